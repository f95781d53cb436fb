// Names in national character sets through the real path: storescu → agent → cloud (PostgreSQL).
// The worklist API, QIDO-RS and WADO-RS /metadata give the names pydicom decodes from the same files
// (Korean and Japanese ISO 2022 with escapes, UTF-8, GB18030), and the worklist search and QIDO's
// PatientName match them by any component group.
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pydicomText, type ReferenceFile } from '../harness/charset-reference.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { parseStorescuOutput, requireTool, storescu, topLevelStrings } from '../harness/dcmtk.js';

const CHARSET_FILES = '/usr/lib/python3/dist-packages/pydicom/data/charset_files';
const FILES = ['chrKoreanMulti', 'chrH31', 'chrI2', 'chrX1', 'chrX2'].map((n) =>
  join(CHARSET_FILES, `${n}.dcm`),
);

type PersonName = { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
type Json = Record<string, { vr: string; Value?: unknown[] }>;

/** A DICOM JSON person name as DICOM writes it, trailing empty groups dropped. */
function pn(v: unknown): string {
  const p = (v ?? {}) as PersonName;
  const groups = [p.Alphabetic ?? '', p.Ideographic ?? '', p.Phonetic ?? ''];
  while (groups.length > 0 && groups.at(-1) === '') groups.pop();
  return groups.join('=');
}

describe('names in national character sets, agent to cloud', () => {
  let cloud: Cloud;
  let reference: ReferenceFile[];
  const sent: { name: string; studyUid: string; seriesUid: string; sopUid: string; patientName: string }[] =
    [];

  beforeAll(async () => {
    requireTool('storescu');
    requireTool('dcmdump');
    [reference, cloud] = await Promise.all([
      pydicomText(FILES),
      startCloud({ name: 'charset-names', blobs: 'fs', database: 'postgres', stablePeriodSeconds: 1 }),
    ]);
  }, 120_000);

  afterAll(() => cloud?.close());

  const get = async (path: string): Promise<unknown> => {
    const res = await cloud.cp.fetch(`${cloud.cp.url}${path}`, {
      headers: {
        authorization: `Bearer ${cloud.session}`,
        accept: 'application/dicom+json, application/json',
      },
    });
    expect(res.status, path).toBe(200);
    return res.json();
  };
  const worklist = async (q: string) =>
    (
      (await get(`/api/v1/studies?q=${encodeURIComponent(q)}`)) as { studies: { studyInstanceUid: string }[] }
    ).studies.map((s) => s.studyInstanceUid);
  const qido = async (patientName: string) =>
    ((await get(`/dicomweb/studies?PatientName=${encodeURIComponent(patientName)}`)) as Json[]).map(
      (s) => s['0020000D']?.Value?.[0],
    );

  it('the worklist, QIDO and /metadata show what pydicom decodes', async () => {
    const r = await storescu({ port: cloud.agent.port, files: FILES, verbose: true, timeoutMs: 60_000 });
    const ok = parseStorescuOutput(r.stderr).outcomes.filter((o) => o.status === 'Success');
    expect(ok, r.stderr.slice(-1500)).toHaveLength(FILES.length);
    for (const ref of reference) {
      const v = await topLevelStrings(ref.file, ['0020,000d', '0020,000e', '0008,0018']);
      const patientName = ref.elements['00100010']?.values[0] ?? '';
      sent.push({
        name: basename(ref.file),
        studyUid: v['0020,000d'] ?? '',
        seriesUid: v['0020,000e'] ?? '',
        sopUid: v['0008,0018'] ?? '',
        patientName,
      });
    }
    for (const s of sent) await cloud.waitForStudy(s.studyUid, { instances: 1, timeoutMs: 60_000 });

    const list = (await get('/api/v1/studies?limit=50')) as {
      studies: { studyInstanceUid: string; patient: { name: string | null } }[];
    };
    for (const s of sent) {
      expect(list.studies.find((x) => x.studyInstanceUid === s.studyUid)?.patient.name, s.name).toBe(
        s.patientName,
      );
      const [study] = (await get(`/dicomweb/studies?StudyInstanceUID=${s.studyUid}`)) as Json[];
      expect(pn(study?.['00100010']?.Value?.[0]), s.name).toBe(s.patientName);
      const [meta] = (await get(
        `/dicomweb/studies/${s.studyUid}/series/${s.seriesUid}/instances/${s.sopUid}/metadata`,
      )) as Json[];
      expect(pn(meta?.['00100010']?.Value?.[0]), s.name).toBe(s.patientName);
    }
    // The Korean file's other names and texts too (Operators' Name, Other Patient Names, Patient Comments).
    const korean = sent[0];
    const ref = reference[0];
    if (!korean || !ref) throw new Error('nothing sent');
    const [meta] = (await get(
      `/dicomweb/studies/${korean.studyUid}/series/${korean.seriesUid}/instances/${korean.sopUid}/metadata`,
    )) as Json[];
    expect(meta?.['00081070']?.Value?.map(pn)).toEqual(ref.elements['00081070']?.values);
    expect(meta?.['00101001']?.Value?.map(pn)).toEqual(ref.elements['00101001']?.values);
    expect(meta?.['001021B0']?.Value).toEqual(ref.elements['001021B0']?.values);
  });

  it('the worklist search and QIDO PatientName find a name by any component group', async () => {
    const uid = (name: string) => sent.find((s) => s.name === name)?.studyUid;
    expect(await worklist('김희중')).toEqual([uid('chrKoreanMulti.dcm')]);
    expect(await worklist('山田')).toEqual([uid('chrH31.dcm')]);
    expect(await worklist('길동')).toEqual([uid('chrI2.dcm')]);
    expect((await worklist('wang')).sort()).toEqual([uid('chrX1.dcm'), uid('chrX2.dcm')].sort());
    expect(await worklist('小东')).toEqual([uid('chrX2.dcm')]);

    expect(await qido('홍^길동')).toEqual([uid('chrI2.dcm')]);
    expect(await qido('Hong^Gildong')).toEqual([uid('chrI2.dcm')]);
    expect(await qido('山田*')).toEqual([uid('chrH31.dcm')]);
    expect(await qido('やまだ^たろう')).toEqual([uid('chrH31.dcm')]);
    expect(await qido('김희중')).toEqual([uid('chrKoreanMulti.dcm')]);
    expect(await qido('Hong')).toEqual([]);
  });
});
