// Sends to the agent under test and, in parallel, to DCMTK's storescp (+B) as the reference: what
// WADO-RS returns of each instance must be byte-identical to what storescp kept of the same send
// (storescu's options may convert a file on the way, so the file itself is not the reference).
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { mapLimit } from '@ferry/shared';
import { expect } from 'vitest';
import { type Cloud, storedVersions } from './cloud.js';
import { pydicomSamples } from './corpus.js';
import {
  freePort,
  parseStorescuOutput,
  startStorescp,
  storescu,
  type ToolResult,
  topLevelStrings,
} from './dcmtk.js';
import { datasetHash, listFiles } from './spool.js';

export interface Sent {
  name: string;
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  /** SHA-256 of the dataset storescp wrote for the same send. */
  refSha: string;
  refFile: string;
}

export function successes(r: ToolResult): string[] {
  return parseStorescuOutput(r.stderr)
    .outcomes.filter((o) => o.status === 'Success')
    .map((o) => o.file);
}

export async function uids(file: string): Promise<{ studyUid: string; seriesUid: string; sopUid: string }> {
  // Top level only: a referenced-series sequence can hold other UIDs before the instance's own.
  const v = await topLevelStrings(file, ['0020,000d', '0020,000e', '0008,0018']);
  return { studyUid: v['0020,000d'] ?? '', seriesUid: v['0020,000e'] ?? '', sopUid: v['0008,0018'] ?? '' };
}

/** Checks and sends run this many at a time: each mostly waits on another process. */
export const PARALLEL = 4;

/** What storescp kept of one send, described for the checks after delivery. */
export async function describeRef(name: string, refFile: string): Promise<Sent> {
  return { name, ...(await uids(refFile)), refSha: (await datasetHash(refFile)).sha256, refFile };
}

/** A storescp on a free port; tried again if a parallel send's storescp took that port first. */
async function startRefScp(outDir: string): ReturnType<typeof startStorescp> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStorescp({ port: await freePort(), outDir });
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** Sends `files` to the agent and to a fresh storescp in parallel; returns what storescp kept. */
export async function sendBoth(
  cloud: Cloud,
  files: string[],
  extraArgs: string[],
  refDir: string,
): Promise<{ agent: ToolResult; refFiles: string[] }> {
  const [agent, refFiles] = await Promise.all([
    storescu({ port: cloud.agent.port, files, extraArgs, verbose: true, timeoutMs: 300_000 }),
    sendRef(files, extraArgs, refDir),
  ]);
  return { agent, refFiles };
}

/**
 * What a fresh storescp keeps of `files`. storescp is the reference here, not what is tested: a send
 * it kept nothing of (seen once in CI with storescu exiting 0, likely a port another test's process
 * took between freePort and listen) is sent again to a new one, and the last failure names what
 * storescu and storescp said.
 */
async function sendRef(files: string[], extraArgs: string[], refDir: string): Promise<string[]> {
  let said = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = attempt === 1 ? refDir : `${refDir}-retry${attempt}`;
    await mkdir(dir, { recursive: true });
    const scp = await startRefScp(dir);
    try {
      const ref = await storescu({
        port: scp.port,
        calledAe: 'REF',
        files,
        extraArgs,
        verbose: true,
        timeoutMs: 300_000,
      });
      expect(ref.code, ref.stderr.slice(-2000)).toBe(0);
      const kept = await listFiles(dir);
      if (kept.length > 0) return kept;
      said = `storescu: ${ref.stderr.slice(-1500)}\nstorescp: ${scp.output().slice(-1500)}`;
    } finally {
      await scp.stop();
    }
  }
  throw new Error(`storescp kept nothing of ${files.join(', ')} in 3 tries\n${said}`);
}

/** Waits for each study to be complete, then checks every instance through WADO-RS. */
export async function expectDeliveredIdentical(cloud: Cloud, sent: Sent[], dir: string): Promise<void> {
  // A later send of the same SOP Instance UID replaces it (a new version): compare with the last one.
  const latest = new Map(sent.map((s) => [s.sopUid, s]));
  const byStudy = new Map<string, Sent[]>();
  for (const s of latest.values()) byStudy.set(s.studyUid, [...(byStudy.get(s.studyUid) ?? []), s]);
  await mkdir(dir, { recursive: true });
  const problems: string[] = [];
  for (const [studyUid, list] of byStudy) {
    const study = await cloud.waitForStudy(studyUid, { instances: list.length, timeoutMs: 300_000 });
    expect(storedVersions(study).filter((v) => v.current)).toHaveLength(list.length);
    // A few retrieves at once: each waits on the control plane, then on hashing here.
    const differs = await mapLimit(list, PARALLEL, async (s) => {
      const got = await cloud.wadoDataset(studyUid, s.seriesUid, s.sopUid, dir);
      return got.sha256 !== s.refSha;
    });
    problems.push(
      ...list.filter((_, i) => differs[i]).map((s) => `${s.name}: WADO dataset differs from storescp's`),
    );
  }
  expect(problems).toEqual([]);
}

/**
 * Sends every pydicom sample to the agent and to storescp. Some samples are one instance in several
 * transfer syntaxes: those go one after another, in list order, so the last of them is the version
 * to compare with; distinct instances go in parallel. Returns what storescp kept, in list order.
 */
export async function sendPydicomSamples(cloud: Cloud, refDir: string): Promise<Sent[]> {
  const numbered = pydicomSamples().map((sample, i) => ({ ...sample, i }));
  const bySop = new Map<string, typeof numbered>();
  const sops = await mapLimit(numbered, PARALLEL, async (s) => (await uids(s.file)).sopUid);
  for (const [i, s] of numbered.entries()) {
    const sop = sops[i] || s.file;
    bySop.set(sop, [...(bySop.get(sop) ?? []), s]);
  }
  const sent: Sent[] = new Array(numbered.length);
  await mapLimit([...bySop.values()], PARALLEL, async (group) => {
    for (const sample of group) {
      const { agent, refFiles } = await sendBoth(
        cloud,
        [sample.file],
        sample.options,
        join(refDir, String(sample.i)),
      );
      expect(successes(agent), `${basename(sample.file)}: ${agent.stderr.slice(-1500)}`).toHaveLength(1);
      sent[sample.i] = await describeRef(basename(sample.file), refFiles[0]!);
    }
  });
  return sent;
}
