// Delivery over a bad network: the agent reaches the control plane and S3 only through TCP fault
// proxies (test/harness/tcp-fault-proxy.ts). A slow, far link (20 Mbit/s, 50 ms RTT), connections
// reset again and again, and a control plane that goes silent (black hole): every instance that got
// C-STORE Success still ends up in the cloud exactly once and byte-identical, and the agent never
// waits forever on a connection that will not answer.
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { events, eventsEventually, sleep, waitFor } from '../harness/agent.js';
import { type Cloud, type StudyDetail, startCloud, storedVersions } from '../harness/cloud.js';
import { bigInstance, corpusFiles, ctCorpus } from '../harness/corpus.js';
import { parseStorescuOutput, requireTool, storescu, topLevelStrings } from '../harness/dcmtk.js';
import { datasetHash } from '../harness/part10.js';
import type { TcpFaultProxy } from '../harness/tcp-fault-proxy.js';

const MiB = 1024 * 1024;
/** The multi-frame instance: 512×512×16-bit frames of incompressible pixels, three 8 MiB parts. */
const BIG_BYTES = 20 * MiB;

let cloud: Cloud | undefined;
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});

interface SentFile {
  file: string;
  bytes: number;
  studyUid: string;
  seriesUid: string;
  sopUid: string;
}

async function describeFiles(files: string[]): Promise<SentFile[]> {
  return Promise.all(
    files.map(async (file) => {
      // Top level only: a referenced-series sequence can hold other UIDs before the instance's own.
      const v = await topLevelStrings(file, ['0020,000d', '0020,000e', '0008,0018']);
      const [studyUid, seriesUid, sopUid] = [v['0020,000d'], v['0020,000e'], v['0008,0018']];
      if (!studyUid || !seriesUid || !sopUid) throw new Error(`${file} lacks its UIDs`);
      return { file, bytes: (await stat(file)).size, studyUid, seriesUid, sopUid };
    }),
  );
}

function byStudy(sent: SentFile[]): Map<string, SentFile[]> {
  const m = new Map<string, SentFile[]>();
  for (const s of sent) m.set(s.studyUid, [...(m.get(s.studyUid) ?? []), s]);
  return m;
}

/** One association; every instance must be answered Success (receiving never waits on the network). */
async function send(c: Cloud, sent: SentFile[]): Promise<void> {
  const r = await storescu({ port: c.agent.port, files: sent.map((s) => s.file), verbose: true });
  const ok = parseStorescuOutput(r.stderr).outcomes.filter((o) => o.status === 'Success');
  expect(ok, r.stderr.slice(-2000)).toHaveLength(sent.length);
}

/** Polls the studies until every instance sent has a current (stored and verified) version. */
async function waitStored(c: Cloud, sent: SentFile[], what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const want = byStudy(sent);
  for (;;) {
    let missing = 0;
    for (const [uid, list] of want) {
      const d = await c.study(uid).catch(() => undefined);
      const current = new Set(
        (d ? storedVersions(d) : []).filter((v) => v.current).map((v) => v.sopInstanceUid),
      );
      missing += list.filter((s) => !current.has(s.sopUid)).length;
    }
    if (missing === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${what}: ${missing} instance(s) never stored\n${c.agent.output().slice(-4000)}`);
    await sleep(200);
  }
}

/** Exactly once (one version per instance, nothing extra) and byte-identical through WADO-RS. */
async function expectDeliveredOnce(c: Cloud, sent: SentFile[]): Promise<void> {
  const dir = join(c.root, `wado-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  for (const [uid, list] of byStudy(sent)) {
    const study: StudyDetail = await c.waitForStudy(uid, { instances: list.length, timeoutMs: 30_000 });
    const all = storedVersions(study);
    expect(all.filter((v) => v.current)).toHaveLength(list.length);
    expect(all.filter((v) => v.version > 1 || !v.current)).toEqual([]);
    expect(study.instanceCount).toBe(list.length);
    expect(new Set(all.map((v) => v.sopInstanceUid))).toEqual(new Set(list.map((s) => s.sopUid)));
    for (const s of list) {
      const got = await c.wadoDataset(uid, s.seriesUid, s.sopUid, dir);
      expect(got.sha256, s.file).toBe((await datasetHash(s.file)).sha256);
    }
  }
}

function links(c: Cloud): { cp: TcpFaultProxy; s3: TcpFaultProxy } {
  if (!c.cpLink || !c.s3Link) throw new Error('the cloud was started without its TCP fault proxies');
  return { cp: c.cpLink, s3: c.s3Link };
}

/** Clear links again, so that the checks afterwards read at full speed. */
function heal(c: Cloud): void {
  for (const l of [c.cpLink, c.s3Link]) {
    l?.resetEvery(null);
    l?.resetAfterBytes(null);
    l?.blackHole(false);
    l?.shape({});
  }
}

function startNetCloud(
  name: string,
  env: Record<string, string> = {},
  agentConfig?: Record<string, unknown>,
): Promise<Cloud> {
  return startCloud({
    name,
    blobs: 's3',
    database: 'postgres',
    stablePeriodSeconds: 1,
    tcpProxyControlPlane: true,
    tcpProxyS3: true,
    env,
    ...(agentConfig ? { agentConfig } : {}),
  });
}

/** The agent's offer deadline in the black-hole test: seconds rather than production's 30. */
const OFFER_TIMEOUT_MS = 4000;

describe('network faults between the agent and the cloud', () => {
  it('delivers over a 20 Mbit/s link with 50 ms RTT, every instance once and intact', async () => {
    requireTool('storescu');
    const ct = (await corpusFiles(await ctCorpus())).slice(0, 6);
    const sent = await describeFiles([...ct, await bigInstance(BIG_BYTES)]);
    cloud = await startNetCloud('net-slow');
    const c = cloud;
    const { cp, s3 } = links(c);
    cp.shape({ latencyMs: 25, bitsPerSecond: 20e6 });
    // The gateway's uplink is the bottleneck. The control plane reads each object back from S3 to
    // verify it through this same proxy; in production that read never crosses the gateway's link.
    s3.shape({ latencyMs: 25, bitsPerSecond: 20e6, downBitsPerSecond: 0 });

    const t0 = performance.now();
    await send(c, sent);
    await waitStored(c, sent, 'over the shaped link', 90_000);
    const seconds = (performance.now() - t0) / 1000;
    const dicomBytes = sent.reduce((n, s) => n + s.bytes, 0);
    const wireUp = s3.stats().bytesUp + cp.stats().bytesUp;
    console.log(
      `20 Mbit/s, 50 ms RTT: ${sent.length} instances, ${(dicomBytes / MiB).toFixed(1)} MiB of DICOM in ${seconds.toFixed(1)} s ` +
        `(goodput ${((dicomBytes * 8) / seconds / 1e6).toFixed(1)} Mbit/s; ${(wireUp / MiB).toFixed(1)} MiB went up the links)`,
    );
    // The bytes really went through the shaped links: the big instance's pixels do not compress.
    expect(s3.stats().bytesUp).toBeGreaterThan(BIG_BYTES);
    expect(cp.stats().bytesUp).toBeGreaterThan(0);
    expect(cp.stats().bytesDown).toBeGreaterThan(0);
    heal(c);
    await expectDeliveredOnce(c, sent);
  }, 120_000);

  it('delivers through connections reset every 700 ms and parts cut short, once the links heal', async () => {
    requireTool('storescu');
    const ct = (await corpusFiles(await ctCorpus())).slice(6, 18);
    const sent = await describeFiles([...ct, await bigInstance(BIG_BYTES)]);
    cloud = await startNetCloud('net-resets');
    const c = cloud;
    const { cp, s3 } = links(c);
    for (const l of [cp, s3]) {
      l.shape({ latencyMs: 25 });
      l.resetEvery(700);
    }
    // No S3 connection carries a whole 8 MiB part while this is on.
    s3.resetAfterBytes(5 * MiB);
    await send(c, sent);
    // Until both links have cut connections and the uploader has retried a storage failure: what the
    // checks below ask, waited for rather than slept through.
    await waitFor(
      () =>
        cp.stats().resets > 3 &&
        s3.stats().resets > 3 &&
        events(c.agent, 'upload.retry').length >= 3 &&
        events(c.agent, 'upload.retry').some((r) => r.code === 'storage.unavailable'),
      60_000,
      () =>
        `resets and retries (resets ${cp.stats().resets}+${s3.stats().resets}, retries ${events(c.agent, 'upload.retry').length})`,
    );
    const retried = events(c.agent, 'upload.retry');
    const resets = { cp: cp.stats().resets, s3: s3.stats().resets };
    heal(c);
    await waitStored(c, sent, 'after the resets stopped', 90_000);
    expect(resets.cp).toBeGreaterThan(3);
    expect(resets.s3).toBeGreaterThan(3);
    // The uploader saw the failures and retried them (the codes say which side failed).
    expect(retried.length).toBeGreaterThanOrEqual(3);
    expect(new Set(retried.map((r) => r.code))).toContain('storage.unavailable');
    await expectDeliveredOnce(c, sent);
  }, 120_000);

  it('keeps receiving while the control plane is black-holed, notices, and delivers once it answers', async () => {
    requireTool('storescu');
    const sent = await describeFiles((await corpusFiles(await ctCorpus())).slice(18, 26));
    // Heartbeats every second: a silent channel is noticed within seconds. An offer lost in the hole
    // is given up after OFFER_TIMEOUT_MS (agent.json timeouts.uploadOfferMs) rather than 30 s.
    cloud = await startNetCloud(
      'net-blackhole',
      { FERRY_HEARTBEAT_SECONDS: '1' },
      { timeouts: { uploadOfferMs: OFFER_TIMEOUT_MS } },
    );
    const c = cloud;
    const { cp } = links(c);
    await eventsEventually(c.agent, 'control.channel_open', 1, 20_000);
    cp.blackHole(true);
    // Receiving never waits on the network: every C-STORE gets Success into the spool.
    await send(c, sent);
    // The agent's offer went into the hole (its bytes were swallowed), and the channel fell silent.
    await waitFor(() => cp.stats().bytesSwallowed > 0, 20_000, 'the agent to call into the black hole');
    await eventsEventually(c.agent, 'control.channel_down', 1, 20_000);
    // The offer in the hole timed out on the agent's configured deadline, well before production's
    // 30 s: the setting reached the upload client. Healing only after it keeps the outage honest.
    const timedOut = () =>
      events(c.agent, 'upload.offer_failed').some((f) => String(f.reason).includes('timed out'));
    await waitFor(timedOut, 15_000, 'an offer lost in the black hole to time out');
    await sleep(1000);
    cp.blackHole(false);
    const healedAt = Date.now();
    await waitStored(c, sent, 'after the black hole', 100_000);
    console.log(`black hole: delivered ${((Date.now() - healedAt) / 1000).toFixed(1)} s after it ended`);
    // The calls lost in the hole timed out and were tried again; the channel came back.
    const failed = events(c.agent, 'upload.offer_failed');
    expect(failed.map((f) => String(f.reason))).toContainEqual(expect.stringContaining('timed out'));
    await eventsEventually(c.agent, 'control.channel_restored', 1, 30_000);
    await expectDeliveredOnce(c, sent);
  }, 150_000);
});
