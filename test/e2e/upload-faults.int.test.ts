// Every instance that got C-STORE Success ends up in the cloud exactly once and intact, through a
// kill -9 mid-upload, a control plane that is down for a while, storage errors and duplicate sends.
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsEventually, sleep, waitFor } from '../harness/agent.js';
import { type Cloud, type StudyDetail, startCloud, storedVersions } from '../harness/cloud.js';
import { bigInstance, corpusFiles, ctCorpus, smallCorpus } from '../harness/corpus.js';
import { dicomStrings, parseStorescuOutput, requireTool, storescu } from '../harness/dcmtk.js';
import { datasetHash, spoolStatus } from '../harness/spool.js';

const MiB = 1024 * 1024;
/** The agent's part-stall deadline in the storage-errors test: a few seconds rather than 30. */
const STALL_MS = 5000;

let cloud: Cloud | undefined;
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});

async function send(c: Cloud, files: string[]): Promise<number> {
  const r = await storescu({ port: c.agent.port, files, verbose: true, timeoutMs: 300_000 });
  const ok = parseStorescuOutput(r.stderr).outcomes.filter((o) => o.status === 'Success');
  expect(ok, r.stderr.slice(-2000)).toHaveLength(files.length);
  return ok.length;
}

async function studyUidOf(file: string): Promise<string> {
  const [uid] = await dicomStrings(file, ['StudyInstanceUID']);
  if (!uid) throw new Error(`${file} has no Study Instance UID`);
  return uid;
}

/** Exactly once and intact: one current version per instance, no extra versions, hashes match. */
async function expectExactlyOnce(c: Cloud, study: StudyDetail, files: string[]): Promise<void> {
  const all = storedVersions(study);
  expect(all.filter((i) => i.current)).toHaveLength(files.length);
  expect(all.filter((i) => i.version > 1 || !i.current)).toEqual([]);
  expect(study.instanceCount).toBe(files.length);
  const sops = new Set(all.map((i) => i.sopInstanceUid));
  expect(sops.size).toBe(files.length);
  // Byte-identical: compare a sample of datasets via WADO (every one for small sets).
  const dir = join(c.root, `wado-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const step = Math.max(1, Math.floor(files.length / 20));
  for (let i = 0; i < files.length; i += step) {
    const file = files[i] as string;
    const [sop] = await dicomStrings(file, ['SOPInstanceUID']);
    const series = study.series.find((s) => s.instances.some((x) => x.sopInstanceUid === sop));
    if (!sop || !series) throw new Error(`${file} not in the study`);
    const got = await c.wadoDataset(study.studyInstanceUid, series.seriesInstanceUid, sop, dir);
    expect(got.sha256, file).toBe((await datasetHash(file)).sha256);
  }
}

/** Nothing left in the spool once everything is delivered (retention 0). */
async function expectSpoolDrained(c: Cloud): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    // `pending` counts spooled, uploading and quarantined entries.
    const s = await spoolStatus(c.agentDataDir);
    if (s.pending.count === 0) return;
    if (Date.now() > deadline) throw new Error(`spool not drained: ${JSON.stringify(s.byState)}`);
    await sleep(500);
  }
}

describe('upload faults', () => {
  it('resumes from the last acknowledged part after kill -9 mid-upload', async () => {
    requireTool('storescu');
    const file = await bigInstance(160 * MiB);
    cloud = await startCloud({
      name: 'kill9',
      proxyControlPlane: true,
      agentConfig: { upload: { parallelism: 1, bandwidthBytesPerSecond: 32 * MiB } },
    });
    const c = cloud;
    const proxy = c.proxy;
    if (!proxy) throw new Error('no proxy');
    await send(c, [file]);
    // Kill once a good share of the parts has gone through, well before the end.
    await waitFor(() => proxy.stats().putBytes > 64 * MiB, 60_000, 'half the parts uploaded');
    await c.agent.kill9();
    const before = proxy.stats().putBytes;
    await c.restartAgent();
    const study = await c.waitForStudy(await studyUidOf(file), { instances: 1, timeoutMs: 120_000 });
    await expectExactlyOnce(c, study, [file]);
    const total = proxy.stats().putBytes;
    // From zero it would be at least `before` + the whole object again.
    expect(total - before).toBeLessThan((await stat(file)).size - 32 * MiB);
    await expectSpoolDrained(c);
  }, 300_000);

  it('keeps receiving while the control plane is down, and delivers everything once it is back', async () => {
    requireTool('storescu');
    const files = (await corpusFiles(await ctCorpus())).slice(0, 40);
    cloud = await startCloud({ name: 'cp-down', database: 'postgres' });
    const c = cloud;
    await c.stopControlPlane();
    // Receiving does not wait on the cloud: every C-STORE gets Success while it is down.
    await send(c, files);
    // The agent tried while it was down and backs off: an outage it lived through, not one it missed.
    await eventsEventually(c.agent, 'upload.offer_failed', 1, 30_000);
    await c.startControlPlane();
    const study = await c.waitForStudy(await studyUidOf(files[0] as string), {
      instances: files.length,
      timeoutMs: 180_000,
    });
    await expectExactlyOnce(c, study, files);
    await expectSpoolDrained(c);
  }, 300_000);

  it('gets through storage errors: 500s, a hung request, resets and a refused part', async () => {
    requireTool('storescu');
    const files = (await corpusFiles(await ctCorpus())).slice(40, 70);
    // The hung PUT is abandoned after STALL_MS (agent.json timeouts.uploadStallMs), not production's 30 s.
    cloud = await startCloud({
      name: 's3-faults',
      blobs: 's3',
      proxyS3: true,
      agentConfig: { timeouts: { uploadStallMs: STALL_MS } },
    });
    const c = cloud;
    const proxy = c.proxy;
    if (!proxy) throw new Error('no proxy');
    const isPut = (req: { method?: string }) => req.method === 'PUT';
    proxy.inject({ match: isPut, fault: { kind: 'status', status: 500 }, times: 4 });
    proxy.inject({ match: isPut, fault: { kind: 'status', status: 503 }, times: 2 });
    proxy.inject({ match: isPut, fault: { kind: 'reset' }, times: 2 });
    proxy.inject({ match: isPut, fault: { kind: 'status', status: 403 }, times: 1 });
    proxy.inject({ match: isPut, fault: { kind: 'hang' }, times: 1 });
    await send(c, files);
    const study = await c.waitForStudy(await studyUidOf(files[0] as string), {
      instances: files.length,
      timeoutMs: 240_000,
    });
    expect(proxy.stats().faulted).toBe(10);
    await expectExactlyOnce(c, study, files);
    await expectSpoolDrained(c);
  }, 300_000);

  it('stores duplicate sends once', async () => {
    requireTool('storescu');
    const files = (await corpusFiles(await smallCorpus())).slice(0, 50);
    cloud = await startCloud({ name: 'dupes' });
    const c = cloud;
    // Twice at the same moment, then once more after delivery.
    await Promise.all([send(c, files), send(c, files)]);
    const studyUid = await studyUidOf(files[0] as string);
    await c.waitForStudy(studyUid, { instances: files.length });
    await send(c, files);
    await expectSpoolDrained(c);
    const study = await c.waitForStudy(studyUid, { instances: files.length });
    await expectExactlyOnce(c, study, files);
  }, 300_000);
});
