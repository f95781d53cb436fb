// Both parsers that read text from received datasets (the agent's header reader for the manifest,
// the control plane's header parse for the index, QIDO and /metadata) decode every text element of
// pydicom's character set files as pydicom does: ISO 2022 escapes (Japanese, Korean), multi-valued
// Specific Character Set, UTF-8, GB18030, single-byte sets, and sequence items with their own set.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { TS } from '@ferry/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { readHeader } from '../../agent/src/spool/header-reader.js';
import {
  type DicomJson,
  type DicomJsonValue,
  parseDicomHeader,
} from '../../control-plane/src/dicom/dicom-json.js';
import { pydicomText, type ReferenceFile } from '../harness/charset-reference.js';
import { META, readMeta } from '../harness/part10.js';

const TEXT_VRS = new Set(['PN', 'SH', 'LO', 'ST', 'LT', 'UT', 'UC']);

function asText(v: DicomJsonValue): string {
  if (v === null) return '';
  if (typeof v === 'object') {
    const groups = [v.Alphabetic, v.Ideographic, v.Phonetic].map((g) => (typeof g === 'string' ? g : ''));
    while (groups.length > 0 && groups.at(-1) === '') groups.pop();
    return groups.join('=');
  }
  return String(v);
}

/** Values as compared: trimmed (pydicom keeps leading spaces), an all-empty element as no values. */
function normal(values: string[]): string[] {
  const trimmed = values.map((v) => v.trim());
  return trimmed.every((v) => v === '') ? [] : trimmed;
}

function textOf(json: DicomJson, prefix = '', out: Record<string, { vr: string; values: string[] }> = {}) {
  for (const [tag, el] of Object.entries(json)) {
    if (el.vr === 'SQ') {
      (el.Value ?? []).forEach((item, i) => {
        textOf(item as DicomJson, `${prefix}${tag}/${i}/`, out);
      });
    } else if (TEXT_VRS.has(el.vr)) {
      out[prefix + tag] = { vr: el.vr, values: normal((el.Value ?? []).map(asText)) };
    } else if (el.vr === 'UN') {
      // Implicit VR private elements: only pydicom's private dictionary knows they are text.
      out[prefix + tag] = { vr: 'UN', values: [] };
    }
  }
  return out;
}

describe('text decoding matches pydicom on its character set files', () => {
  let reference: ReferenceFile[];
  beforeAll(async () => {
    reference = await pydicomText();
  });

  it('covers the chr* files', () => {
    const names = reference.map((r) => basename(r.file));
    for (const n of ['chrH31.dcm', 'chrH32.dcm', 'chrI2.dcm', 'chrKoreanMulti.dcm', 'chrX1.dcm', 'chrX2.dcm'])
      expect(names).toContain(n);
    expect(names.filter((n) => n.startsWith('chrSQEncoding'))).toHaveLength(2);
    expect(names.length).toBeGreaterThanOrEqual(17);
  });

  it('control plane: every text element, in sequence items too', async () => {
    for (const ref of reference) {
      const name = basename(ref.file);
      const parsed = await parseDicomHeader(await readFile(ref.file), { whole: true });
      const ours = textOf(parsed.metadata);
      for (const [path, e] of Object.entries(ours))
        if (e.vr === 'UN' && !ref.elements[path]) delete ours[path];
      const expected = Object.fromEntries(
        Object.entries(ref.elements).map(([path, e]) => [
          path,
          ours[path]?.vr === 'UN' ? ours[path] : { vr: e.vr, values: normal(e.values) },
        ]),
      );
      expect(ours, name).toEqual(expected);
      expect(parsed.charset, name).toBeUndefined();
    }
  });

  it("agent: the manifest's names and descriptions", async () => {
    const first = (ref: ReferenceFile, tag: string) => normal(ref.elements[tag]?.values ?? [])[0];
    for (const ref of reference) {
      const name = basename(ref.file);
      const file = await readFile(ref.file);
      const meta = await readMeta(ref.file);
      const ts = meta?.values.get(META.transferSyntaxUid) ?? TS.ExplicitVRLittleEndian;
      const parsed = readHeader(file.subarray(meta?.datasetOffset ?? 0), ts, true, false);
      if (parsed.state !== 'complete') throw new Error(`${name}: header not read`);
      const f = parsed.fields;
      expect(
        [f.patient.name, f.patient.id, f.study.description, f.study.referringPhysician, f.series.description],
        name,
      ).toEqual(
        ['00100010', '00100020', '00081030', '00080090', '0008103E'].map((t) => first(ref, t) || undefined),
      );
      expect(f.charset, name).toBeUndefined();
    }
  });
});

describe('an unknown Specific Character Set term', () => {
  it('is decoded as far as it can be, flagged, and never thrown, on both sides', async () => {
    const file = await readFile('/usr/lib/python3/dist-packages/pydicom/data/charset_files/chrFren.dcm');
    const at = file.indexOf('ISO_IR 100');
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(file);
    bad.write('ISO_IR 999', at, 'latin1');
    const parsed = await parseDicomHeader(bad, { whole: true });
    expect(parsed.metadata['00100010']?.Value).toEqual([{ Alphabetic: 'Buc^Jérôme' }]);
    expect(parsed.charset).toEqual({
      terms: ['ISO_IR 999'],
      issues: ['unknown-term', 'bytes-outside-charset'],
    });
    const meta = await readMeta('/usr/lib/python3/dist-packages/pydicom/data/charset_files/chrFren.dcm');
    const agent = readHeader(bad.subarray(meta?.datasetOffset), TS.ExplicitVRLittleEndian, true, false);
    if (agent.state !== 'complete') throw new Error('header not read');
    expect(agent.fields.patient.name).toBe('Buc^Jérôme');
    expect(agent.fields.charset).toEqual({
      terms: ['ISO_IR 999'],
      issues: ['unknown-term', 'bytes-outside-charset'],
    });
  });
});
