// The generated corpora (a 300-slice CT study and 2000 small MR instances) sent as directories by
// storescu, each in one association and both at once; every instance must come back out of the
// encrypted spool byte-identical, and no plaintext may be in the spool.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IndexEntry } from '../../agent/src/spool/index-entry.js';
import {
  type AgentProcess,
  type RecipientKeys,
  removeScratch,
  scratchAgent,
  storeEvents,
  waitFor,
} from '../harness/agent.js';
import { CORPUS_PATIENT_NAMES, CT_COUNT, ctCorpus, SMALL_COUNT, smallCorpus } from '../harness/corpus.js';
import {
  datasetAfterMeta,
  dicomStrings,
  parseStorescuOutput,
  requireTool,
  storescu,
} from '../harness/dcmtk.js';
import {
  distinctiveWindow,
  duplicateEntries,
  indexEntries,
  layoutProblems,
  listFiles,
  META,
  type Needle,
  readMeta,
  searchFiles,
  spoolFilesToSearch,
  spoolStatus,
  stopAndExportAll,
  stringNeedles,
} from '../harness/spool.js';

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

interface SourceFile {
  file: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

async function sources(dir: string): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const file of await listFiles(dir)) {
    const meta = await readMeta(file);
    const sopInstanceUid = meta?.values.get(META.sopInstanceUid);
    const transferSyntaxUid = meta?.values.get(META.transferSyntaxUid);
    if (!sopInstanceUid || !transferSyntaxUid) throw new Error(`${file}: no SOP Instance UID in its meta`);
    out.push({ file, sopInstanceUid, transferSyntaxUid });
  }
  return out;
}

describe('receive: generated CT and small-instance corpora', () => {
  let root = '';
  let keys: RecipientKeys;
  let agent: AgentProcess;
  let exportDir = '';
  const corpus = {
    ct: { dir: '', study: '', files: [] as SourceFile[] },
    small: { dir: '', study: '', files: [] as SourceFile[] },
  };

  beforeAll(async () => {
    for (const tool of ['storescu', 'dcmdump']) requireTool(tool);
    const [ctDir, smallDir] = await Promise.all([ctCorpus(), smallCorpus()]);
    for (const [c, dir] of [
      [corpus.ct, ctDir],
      [corpus.small, smallDir],
    ] as const) {
      c.dir = dir;
      c.files = await sources(dir);
      const [study] = await dicomStrings(c.files[0]?.file ?? '', ['StudyInstanceUID']);
      c.study = study ?? '';
    }
    ({ root, keys, agent } = await scratchAgent('receive-generated'));
    exportDir = join(root, 'export');
  }, 600_000);

  afterAll(() => removeScratch(root, agent));

  it('receives 300 CT slices and 2000 small instances (two concurrent associations), all Success', async () => {
    expect(corpus.ct.files).toHaveLength(CT_COUNT);
    expect(corpus.small.files).toHaveLength(SMALL_COUNT);
    expect(corpus.ct.study).toMatch(/^[0-9.]+$/);
    expect(corpus.small.study).toMatch(/^[0-9.]+$/);
    expect(corpus.ct.study).not.toBe(corpus.small.study);

    const send = (dir: string) =>
      storescu({
        port: agent.port,
        files: [],
        scanDir: dir,
        scanPattern: '*.dcm',
        verbose: true,
        timeoutMs: 240_000,
      });
    const [ct, small] = await Promise.all([send(corpus.ct.dir), send(corpus.small.dir)]);
    for (const [label, r, count] of [
      ['ct', ct, CT_COUNT],
      ['small', small, SMALL_COUNT],
    ] as const) {
      expect(r.timedOut, label).toBe(false);
      expect(r.code, `${label}: ${r.stderr.slice(-3000)}`).toBe(0);
      const summary = parseStorescuOutput(r.stderr);
      expect(summary.outcomes, label).toHaveLength(count);
      expect({ label, succeeded: summary.succeeded, failed: summary.failed, errors: summary.errors }).toEqual(
        {
          label,
          succeeded: count,
          failed: 0,
          errors: [],
        },
      );
    }

    const total = CT_COUNT + SMALL_COUNT;
    await waitFor(() => storeEvents(agent).length >= total, 10_000, `${total} store events`);
    const events = storeEvents(agent);
    expect(events).toHaveLength(total);
    expect(events.filter((e) => e.status !== '0x0000' || e.duplicate === true)).toEqual([]);

    const status = await spoolStatus(agent.dataDir);
    expect(status.count).toBe(total);
    expect(status.byState).toEqual({ spooled: total });
    expect(
      [...status.studies]
        .sort((a, b) => a.instances - b.instances)
        .map((s) => [s.studyInstanceUid, s.instances]),
    ).toEqual([
      [corpus.ct.study, CT_COUNT],
      [corpus.small.study, SMALL_COUNT],
    ]);
    expect(status.studies.reduce((n, s) => n + s.bytes, 0)).toBe(status.bytes);
  }, 300_000);

  it('has one encrypted object per instance, sized as the index says', async () => {
    const entries = await indexEntries(agent.dataDir);
    // One entry per instance, none stored twice.
    expect(entries).toHaveLength(CT_COUNT + SMALL_COUNT);
    expect(duplicateEntries(entries)).toEqual([]);
    expect(new Set(entries.map((e) => e.sopInstanceUid)).size).toBe(CT_COUNT + SMALL_COUNT);
    // Large entries have objects/<id>.fobj of objectBytes, inline ones none; nothing else in objects/,
    // nothing left in tmp/. (The ~0.5 MiB CT slices and the small instances are all inline.)
    expect(await layoutProblems(agent.dataDir, entries)).toEqual([]);
    expect(entries.filter((e) => !e.inline).map((e) => e.id)).toEqual([]);
    expect(new Set(entries.map((e) => e.version))).toEqual(new Set([1]));
    expect(new Set(entries.map((e) => e.callingAeTitle))).toEqual(new Set(['STORESCU']));
  }, 60_000);

  it('exports every instance with the source dataset byte for byte', async () => {
    const { entries } = await stopAndExportAll(agent, keys, exportDir);
    const bySop = new Map<string, IndexEntry>(entries.map((e) => [e.sopInstanceUid, e]));
    expect(await listFiles(exportDir)).toHaveLength(CT_COUNT + SMALL_COUNT);

    const problems: string[] = [];
    for (const c of [corpus.ct, corpus.small]) {
      for (const src of c.files) {
        const entry = bySop.get(src.sopInstanceUid);
        if (entry?.studyInstanceUid !== c.study) {
          problems.push(`${src.file}: index entry ${JSON.stringify(entry)} (study should be ${c.study})`);
          continue;
        }
        const exported = join(exportDir, c.study, `${src.sopInstanceUid}.dcm`);
        const [want, got, meta] = await Promise.all([
          datasetAfterMeta(src.file),
          datasetAfterMeta(exported),
          readMeta(exported),
        ]);
        if (!got.equals(want))
          problems.push(`${src.file}: dataset differs (${got.length} vs ${want.length} bytes)`);
        const ts = meta?.values.get(META.transferSyntaxUid);
        if (
          ts !== src.transferSyntaxUid ||
          ts !== EXPLICIT_VR_LITTLE_ENDIAN ||
          entry.transferSyntaxUid !== ts
        )
          problems.push(
            `${src.file}: transfer syntax ${ts} / ${entry.transferSyntaxUid}, source ${src.transferSyntaxUid}`,
          );
        if (meta?.values.get(META.sopInstanceUid) !== src.sopInstanceUid)
          problems.push(`${src.file}: exported meta names another SOP instance`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
  }, 300_000);

  it('holds no plaintext patient data or pixel bytes in the spool', async () => {
    const strings = [
      CORPUS_PATIENT_NAMES.ct,
      CORPUS_PATIENT_NAMES.small,
      'FERRYCT0001',
      'FERRYSMALL01',
      'FERRYACC0001',
      'FERRYACC0002',
      'Ferry General Hospital',
      'FERRY^REFERRER',
    ];
    const nameNeedles = stringNeedles(strings);
    // The search works: each corpus's strings are in its decrypted export (checked on one file each).
    for (const [c, own] of [
      [corpus.ct, [CORPUS_PATIENT_NAMES.ct, 'FERRYCT0001', 'FERRYACC0001']],
      [corpus.small, [CORPUS_PATIENT_NAMES.small, 'FERRYSMALL01', 'FERRYACC0002']],
    ] as const) {
      const one = join(exportDir, c.study, `${c.files[0]?.sopInstanceUid}.dcm`);
      const hits = (await searchFiles([one], nameNeedles)).map((h) => h.label).sort();
      expect(hits, one).toEqual([...own, 'Ferry General Hospital', 'FERRY^REFERRER'].sort());
    }
    // Every file under the spool is searched: objects/, tmp/ and the log segments, where inline
    // objects and the index live.
    const spoolFiles = await spoolFilesToSearch(agent.dataDir);
    expect(await searchFiles(spoolFiles, nameNeedles)).toEqual([]);

    // Nor do stretches of dataset bytes (headers, pixels, tail) of every 20th instance show up
    // anywhere in the spool, in particular not in the log records holding those instances inline.
    const datasetNeedles: Needle[] = [];
    let checked = 0;
    for (const c of [corpus.ct, corpus.small]) {
      for (const src of c.files.filter((_, i) => i % 20 === 0)) {
        const ds = await datasetAfterMeta(src.file);
        const needles: Needle[] = [];
        for (const at of [0, Math.floor(ds.length / 2), ds.length - 64]) {
          const w = distinctiveWindow(ds, at);
          if (w) needles.push({ label: `${src.file}@${at}`, bytes: w });
        }
        expect(needles, src.file).toHaveLength(3);
        // The search works: each needle is in that instance's decrypted export.
        const exported = join(exportDir, c.study, `${src.sopInstanceUid}.dcm`);
        const found = (await searchFiles([exported], needles)).map((h) => h.label).sort();
        expect(found, exported).toEqual(needles.map((n) => n.label).sort());
        datasetNeedles.push(...needles);
        checked++;
      }
    }
    expect(checked).toBe(CT_COUNT / 20 + SMALL_COUNT / 20);
    expect(await searchFiles(spoolFiles, datasetNeedles)).toEqual([]);
    const log = agent.output();
    expect(strings.filter((s) => log.includes(s))).toEqual([]);
  }, 180_000);
});
