// Receive → spool → upload → verify → worklist → DICOMweb, across real processes, on both blob
// backends. What WADO-RS returns must be byte-identical to what DCMTK's storescp (+B) received from
// the same send, and QIDO must list each study with the right attributes.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, startCloud, storedVersions } from '../harness/cloud.js';
import { bigInstance, corpusFiles, ctCorpus, pydicomSamples } from '../harness/corpus.js';
import {
  freePort,
  parseStorescuOutput,
  requireTool,
  startStorescp,
  storescu,
  type ToolResult,
  topLevelStrings,
} from '../harness/dcmtk.js';
import { datasetHash, listFiles } from '../harness/spool.js';

interface Sent {
  name: string;
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  /** SHA-256 of the dataset storescp wrote for the same send. */
  refSha: string;
  refFile: string;
}

function successes(r: ToolResult): string[] {
  return parseStorescuOutput(r.stderr)
    .outcomes.filter((o) => o.status === 'Success')
    .map((o) => o.file);
}

async function uids(file: string): Promise<{ studyUid: string; seriesUid: string; sopUid: string }> {
  // Top level only: a referenced-series sequence can hold other UIDs before the instance's own.
  const v = await topLevelStrings(file, ['0020,000d', '0020,000e', '0008,0018']);
  return { studyUid: v['0020,000d'] ?? '', seriesUid: v['0020,000e'] ?? '', sopUid: v['0008,0018'] ?? '' };
}

/** Sends `files` to the agent and to a fresh storescp in parallel; returns what storescp kept. */
async function sendBoth(
  cloud: Cloud,
  files: string[],
  extraArgs: string[],
  refDir: string,
): Promise<{ agent: ToolResult; refFiles: string[] }> {
  await mkdir(refDir, { recursive: true });
  const scp = await startStorescp({ port: await freePort(), outDir: refDir });
  try {
    const [agent, ref] = await Promise.all([
      storescu({ port: cloud.agent.port, files, extraArgs, verbose: true, timeoutMs: 300_000 }),
      storescu({ port: scp.port, calledAe: 'REF', files, extraArgs, verbose: true, timeoutMs: 300_000 }),
    ]);
    expect(ref.code, ref.stderr.slice(-2000)).toBe(0);
    return { agent, refFiles: await listFiles(refDir) };
  } finally {
    await scp.stop();
  }
}

/** Waits for each study to be complete, then checks every instance through WADO-RS. */
async function expectDeliveredIdentical(cloud: Cloud, sent: Sent[], dir: string): Promise<void> {
  // A later send of the same SOP Instance UID replaces it (a new version): compare with the last one.
  const latest = new Map(sent.map((s) => [s.sopUid, s]));
  const byStudy = new Map<string, Sent[]>();
  for (const s of latest.values()) byStudy.set(s.studyUid, [...(byStudy.get(s.studyUid) ?? []), s]);
  await mkdir(dir, { recursive: true });
  const problems: string[] = [];
  for (const [studyUid, list] of byStudy) {
    const study = await cloud.waitForStudy(studyUid, { instances: list.length, timeoutMs: 300_000 });
    expect(storedVersions(study).filter((v) => v.current)).toHaveLength(list.length);
    for (const s of list) {
      const got = await cloud.wadoDataset(studyUid, s.seriesUid, s.sopUid, dir);
      if (got.sha256 !== s.refSha) problems.push(`${s.name}: WADO dataset differs from storescp's`);
    }
  }
  expect(problems).toEqual([]);
}

describe.each([
  { blobs: 'fs' as const, database: 'pglite' as const },
  { blobs: 's3' as const, database: 'postgres' as const },
])('upload end to end ($blobs blobs, $database)', ({ blobs, database }) => {
  let cloud: Cloud;

  beforeAll(async () => {
    for (const tool of ['storescu', 'storescp', 'dcmdump']) requireTool(tool);
    cloud = await startCloud({ name: `corpus-${blobs}`, blobs, database, stablePeriodSeconds: 2 });
  }, 120_000);

  afterAll(() => cloud?.close());

  it('delivers every pydicom sample byte-identical, and QIDO lists each study', async () => {
    const sent: Sent[] = [];
    for (const [i, sample] of pydicomSamples().entries()) {
      const { agent, refFiles } = await sendBoth(
        cloud,
        [sample.file],
        sample.options,
        join(cloud.root, 'ref-samples', String(i)),
      );
      expect(successes(agent), `${basename(sample.file)}: ${agent.stderr.slice(-1500)}`).toHaveLength(1);
      const refFile = refFiles[0];
      if (!refFile) throw new Error(`storescp kept nothing for ${sample.file}`);
      sent.push({
        name: basename(sample.file),
        ...(await uids(refFile)),
        refSha: (await datasetHash(refFile)).sha256,
        refFile,
      });
    }
    await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-samples'));

    // QIDO: every study, by its UID, with the patient attributes storescp saw.
    for (const s of new Map(sent.map((x) => [x.studyUid, x])).values()) {
      const res = await cloud.cp.fetch(`${cloud.cp.url}/dicomweb/studies?StudyInstanceUID=${s.studyUid}`, {
        headers: { authorization: `Bearer ${cloud.session}`, accept: 'application/dicom+json' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/application\/dicom\+json/);
      const body = (await res.json()) as Record<string, { Value?: unknown[] }>[];
      expect(body, s.name).toHaveLength(1);
      expect(body[0]?.['0020000D']?.Value).toEqual([s.studyUid]);
      const patientId = (await topLevelStrings(s.refFile, ['0010,0020']))['0010,0020']?.trim();
      if (patientId) expect(body[0]?.['00100020']?.Value, s.name).toEqual([patientId]);
    }
  }, 900_000);

  it('delivers a 300-slice CT byte-identical', async () => {
    const files = await corpusFiles(await ctCorpus());
    const { agent, refFiles } = await sendBoth(cloud, files, [], join(cloud.root, 'ref-ct'));
    expect(successes(agent)).toHaveLength(files.length);
    const sent: Sent[] = [];
    for (const refFile of refFiles)
      sent.push({
        name: basename(refFile),
        ...(await uids(refFile)),
        refSha: (await datasetHash(refFile)).sha256,
        refFile,
      });
    expect(new Set(sent.map((s) => s.studyUid)).size).toBe(1);
    await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-ct'));
  }, 900_000);

  // Once is enough for the big one: it is about bounded memory, which does not depend on the backend.
  if (blobs === 'fs')
    it('delivers a 1 GiB multi-frame instance byte-identical', async () => {
      const file = await bigInstance(1024 * 1024 * 1024 + 1024 * 1024);
      const { agent, refFiles } = await sendBoth(cloud, [file], [], join(cloud.root, 'ref-big'));
      expect(successes(agent)).toHaveLength(1);
      const refFile = refFiles[0];
      if (!refFile) throw new Error('storescp kept nothing');
      const sent = [
        { name: 'big', ...(await uids(refFile)), refSha: (await datasetHash(refFile)).sha256, refFile },
      ];
      await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-big'));
      expect(await cloud.agent.peakRss()).toBeLessThan(400 * 1024 * 1024);
    }, 1_200_000);
});
