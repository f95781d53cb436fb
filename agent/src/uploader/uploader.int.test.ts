// The uploader against the real control plane: the app from its test harness (PGlite, fs blob store)
// served on a real port, real agent tokens, real part PUTs. Nothing is mocked; a few calls are
// watched on their way through (to count round trips and see which parts were sent).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UploadOfferObject, UploadOfferResult } from '@ferry/shared';
import { serve } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { type Logger, pino } from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploads } from '../../../control-plane/src/db/schema/index.js';
import { handleOf } from '../../../control-plane/src/ingest/upload-store.js';
import { asReceived, privateOb, silent, storeInstance } from '../../../testkit/agent/spool.js';
import {
  createTestApp,
  enrollTestGateway,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { newTestUid, readSample, rewriteSample } from '../../../testkit/control-plane/seal-object.js';
import { ControlPlaneClient } from '../cloud/client.js';
import type { IndexEntry } from '../spool/index-entry.js';
import { Spool } from '../spool/spool.js';
import { type UploadApi, UploadClient } from './upload-client.js';
import { Uploader, type UploaderConfig } from './uploader.js';

const MiB = 1024 * 1024;

let t: TestApp;
let server: ReturnType<typeof serve>;
/** Every connection, whatever the URL's host, goes to the served control plane. */
let dispatcher: Agent;
/** The served control plane's port. */
let cpPort: number;

beforeAll(async () => {
  t = await createTestApp('pglite');
  server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  cpPort = port;
  // Agent tokens name the control plane by its public URL (http://ferry.test), and so do the fs part
  // URLs: keep those names on the wire (Host header) and route the sockets to the real port.
  dispatcher = new Agent({
    connect: (_opts, cb) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => cb(null, socket));
      socket.once('error', (err) => cb(err, null));
    },
  });
}, 120_000);

afterAll(async () => {
  await dispatcher?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await t?.close();
});

interface Rig {
  dir: string;
  spool: Spool;
  gateway: TestGateway;
  api: UploadApi;
  /** Offer results as the control plane sent them, in order. */
  offers: UploadOfferResult[][];
  puts: { url: string; length: number }[];
  /** Calls to offer and complete. */
  calls: { offer: number; complete: number };
  uploader(config?: Partial<UploaderConfig>, onReenroll?: () => Promise<void>): Uploader;
  close(): Promise<void>;
}

interface RigOptions {
  /** Where the sockets go instead of the shared dispatcher (a link that fails). */
  dispatcher?: Agent;
  offerTimeoutMs?: number;
  log?: Logger;
}

async function rig(opts: RigOptions = {}): Promise<Rig> {
  const via = opts.dispatcher ?? dispatcher;
  const group = await t.seedGroup();
  const gateway = await enrollTestGateway(t, group);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-upload-'));
  const spool = await Spool.open(dir, t.deps.recipientPublicKey, silent, { compression: 'zstd' });
  const control = new ControlPlaneClient({
    server: TEST_PUBLIC_URL,
    auth: { gatewayId: gateway.gatewayId, privateJwk: gateway.privateJwk },
    fetch: ((url: string, init: RequestInit) =>
      undiciFetch(url, { ...(init as object), dispatcher: via })) as unknown as typeof fetch,
  });
  const real = new UploadClient(control, {
    dispatcher: via,
    ...(opts.offerTimeoutMs !== undefined ? { offerTimeoutMs: opts.offerTimeoutMs } : {}),
  });
  const offers: UploadOfferResult[][] = [];
  const puts: { url: string; length: number }[] = [];
  const calls = { offer: 0, complete: 0 };
  // Watched, not mocked: every call goes through to the real control plane.
  const api: UploadApi = {
    async offer(objects: UploadOfferObject[], signal?: AbortSignal) {
      calls.offer++;
      const r = await real.offer(objects, signal);
      offers.push(r);
      return r;
    },
    complete(objects, signal, verifyBytes) {
      calls.complete++;
      return real.complete(objects, signal, verifyBytes);
    },
    async putPart(url, body, length, signal) {
      await real.putPart(url, body, length, signal);
      puts.push({ url, length });
    },
  };
  const started: Uploader[] = [];
  return {
    dir,
    spool,
    gateway,
    api,
    offers,
    puts,
    calls,
    uploader(config = {}, onReenroll) {
      const u = new Uploader({
        ...(onReenroll ? { onReenroll } : {}),
        spool,
        api,
        log: opts.log ?? silent,
        config: { parallelism: 4, bandwidthBytesPerSecond: 0, retentionHours: 0, ...config },
        pollMs: 500,
        backoff: { baseMs: 50, capMs: 500 },
      });
      started.push(u);
      return u;
    },
    async close() {
      for (const u of started) await u.stop({ graceMs: 0 });
      await spool.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Receives a sample with a fresh SOP Instance UID (and optional extra bytes) into the spool. */
async function receive(
  spool: Spool,
  opts: { sample?: string; studyUid?: string; tail?: Buffer } = {},
): Promise<IndexEntry> {
  const base = await readSample(opts.sample ?? 'CT_small.dcm');
  const part10 = rewriteSample(base, {
    sopInstanceUid: newTestUid(),
    ...(opts.studyUid ? { studyInstanceUid: opts.studyUid } : {}),
  });
  const { dataset, req } = asReceived(part10);
  return storeInstance(spool, req, opts.tail ? Buffer.concat([dataset, opts.tail]) : dataset, 256 * 1024);
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const states = (spool: Spool) =>
  spool.log.all().reduce<Record<string, number>>((acc, e) => {
    acc[e.state] = (acc[e.state] ?? 0) + 1;
    return acc;
  }, {});

describe('uploader against the real control plane', () => {
  it('delivers every object, small ones in batched round trips, and deletes local copies only after receipts', async () => {
    const r = await rig();
    try {
      const studyUid = newTestUid();
      // Native (compressed at receipt: the rig forces zstd) and encapsulated (sent as is) transfer syntaxes.
      const samples = ['CT_small.dcm', 'MR_small.dcm', 'JPEG2000.dcm', 'MR_small_RLE.dcm'];
      const small: IndexEntry[] = [];
      for (let i = 0; i < 60; i++)
        small.push(await receive(r.spool, { sample: samples[i % samples.length], studyUid }));
      // Multipart (8 MiB parts) and incompressible: three parts, a file in objects/.
      const big = await receive(r.spool, { studyUid, tail: privateOb(randomBytes(20 * MiB)) });
      expect(big.inline).toBe(false);
      expect(small.some((e) => e.objectBytes < e.plainBytes)).toBe(true);
      // Every file object keeps its file until its receipt is recorded.
      const purgedBeforeReceipt: string[] = [];
      const markPurged = r.spool.log.markPurged.bind(r.spool.log);
      r.spool.log.markPurged = async (id: string) => {
        if (r.spool.log.get(id)?.state !== 'delivered') purgedBeforeReceipt.push(id);
        return markPurged(id);
      };

      const uploader = r.uploader();
      uploader.start();
      await until('all delivered', () => r.spool.log.all().every((e) => e.state === 'delivered'));
      await uploader.sweepRetention();

      const rows = await t.database.db
        .select()
        .from(uploads)
        .where(eq(uploads.gatewayId, r.gateway.gatewayId));
      expect(rows).toHaveLength(61);
      expect(rows.every((row) => row.state === 'stored')).toBe(true);
      // 61 objects, far fewer than 61 offers and completes.
      expect(r.calls.offer).toBeLessThanOrEqual(6);
      expect(r.calls.complete).toBeLessThanOrEqual(20);
      expect(r.puts.filter((p) => p.length >= 8 * MiB)).toHaveLength(2);
      // Retention 0: the file object's local copy went right after its receipt, and nothing before.
      await until('local copy deleted', async () => (await readdir(r.spool.paths.objects)).length === 0);
      expect(purgedBeforeReceipt).toEqual([]);
      expect(r.spool.log.get(big.id)?.purged).toBe(true);
      // Health counters: monotonic, over the uploader's life.
      const stats = uploader.stats();
      expect(stats.objectsDeliveredTotal).toBe(61);
      expect(stats.bytesSentTotal).toBeGreaterThan(20 * MiB);
      expect(stats.errorsTotal).toBe(0);
      expect(stats.lastError).toBeUndefined();
      expect(stats.lastDeliveredAt).toBeInstanceOf(Date);
      await uploader.stop();
    } finally {
      await r.close();
    }
  }, 180_000);

  it('takes new settings live: lifting the cap speeds up the part in flight; a schedule window sets the cap', async () => {
    const r = await rig();
    try {
      const big = await receive(r.spool, { tail: privateOb(randomBytes(12 * MiB)) });
      // At 1 MiB/s the object would take over 12 s.
      const uploader = r.uploader({ bandwidthBytesPerSecond: 1 * MiB, parallelism: 1 });
      uploader.start();
      await until(
        'sending',
        () => uploader.stats().bytesSentTotal > 0 || r.spool.log.get(big.id)?.state === 'uploading',
      );
      expect(uploader.currentCap).toBe(1 * MiB);
      const lifted = Date.now();
      uploader.updateConfig({ parallelism: 2, bandwidthBytesPerSecond: 0, retentionHours: 0, schedule: [] });
      expect(uploader.currentCap).toBe(0);
      await until('delivered', () => r.spool.log.get(big.id)?.state === 'delivered', 30_000);
      // The first 8 MiB part alone would take 8 s more at the old cap.
      expect(Date.now() - lifted).toBeLessThan(4000);

      // A window covering every day and hour caps it; the base cap applies outside windows.
      const always = {
        days: [0, 1, 2, 3, 4, 5, 6],
        from: '00:00',
        to: '00:00',
        bandwidthBytesPerSecond: 300_000,
      };
      uploader.updateConfig({
        parallelism: 2,
        bandwidthBytesPerSecond: 0,
        retentionHours: 0,
        schedule: [always],
      });
      expect(uploader.currentCap).toBe(300_000);
      expect(uploader.settings.schedule).toEqual([always]);
      await uploader.stop();
    } finally {
      await r.close();
    }
  }, 120_000);

  it("measures the link by its PUTs' busy time, a capped one at its cap, and tells the spool", async () => {
    const r = await rig();
    try {
      const cap = 4 * MiB;
      const first = await receive(r.spool, { tail: privateOb(randomBytes(10 * MiB)) });
      const capped = r.uploader({ bandwidthBytesPerSecond: cap, parallelism: 2 });
      expect(capped.linkBytesPerSecond).toBeUndefined();
      capped.start();
      await until('delivered', () => r.spool.log.get(first.id)?.state === 'delivered', 30_000);
      // The cap is the link as far as coding is concerned: the estimate is the capped rate.
      const measured = capped.linkBytesPerSecond!;
      expect(measured).toBeGreaterThan(cap * 0.6);
      expect(measured).toBeLessThan(cap * 1.25);
      expect(r.spool.compressionStatus().linkBytesPerSecond).toBe(measured);
      await capped.stop();

      const second = await receive(r.spool, { tail: privateOb(randomBytes(10 * MiB)) });
      const free = r.uploader({ bandwidthBytesPerSecond: 0, parallelism: 2 });
      free.start();
      await until('delivered', () => r.spool.log.get(second.id)?.state === 'delivered', 30_000);
      // Loopback without a cap: far faster than the cap, and the spool goes by the new estimate.
      expect(free.linkBytesPerSecond!).toBeGreaterThan(cap * 2);
      expect(r.spool.compressionStatus().linkBytesPerSecond).toBe(free.linkBytesPerSecond);
      expect(r.spool.compressionStatus().lastDrainBytesPerSecond).toBe(free.linkBytesPerSecond);
      await free.stop();
    } finally {
      await r.close();
    }
  }, 120_000);

  it('resumes after a stop mid-object, sending only the parts the control plane lacks', async () => {
    const r = await rig();
    try {
      const big = await receive(r.spool, { tail: privateOb(randomBytes(40 * MiB)) });
      // 6 parts of up to 8 MiB; at 16 MiB/s the object takes about 2.5 s.
      const first = r.uploader({ bandwidthBytesPerSecond: 16 * MiB, parallelism: 1 });
      first.start();
      const partsHeld = async () => {
        const [row] = await t.database.db.select().from(uploads).where(eq(uploads.objectId, big.id));
        return row ? (await t.deps.blobStore.listParts(handleOf(row))).length : 0;
      };
      await until('two parts stored', async () => (await partsHeld()) >= 2);
      await first.stop({ graceMs: 0 });
      expect(r.spool.log.get(big.id)?.state).toBe('uploading');
      // No receipt, so the local copy stays.
      expect(await readdir(r.spool.paths.objects)).toEqual([`${big.id}.fobj`]);
      const held = await partsHeld();
      expect(held).toBeGreaterThanOrEqual(2);
      expect(held).toBeLessThan(Math.ceil(big.objectBytes / (8 * MiB)));

      const putsBefore = r.puts.length;
      const offersBefore = r.offers.length;
      const second = r.uploader({ parallelism: 1 });
      second.start();
      await until('delivered', () => r.spool.log.get(big.id)?.state === 'delivered');
      const resumedOffer = r.offers[offersBefore]?.find((o) => o.objectId === big.id);
      expect(resumedOffer?.status).toBe('upload');
      const parts = resumedOffer?.status === 'upload' ? resumedOffer.parts : [];
      expect(parts.filter((p) => p.done).length).toBe(held);
      // Only the missing parts went over the wire the second time.
      expect(r.puts.length - putsBefore).toBe(parts.length - held);
      await second.stop();
    } finally {
      await r.close();
    }
  }, 180_000);

  it('quarantines an object the control plane refuses for good, and delivers the rest', async () => {
    const r = await rig();
    try {
      const good = await receive(r.spool);
      const bad = await receive(r.spool, { sample: 'MR_small.dcm' });
      // The same object id was offered before with other claims: the control plane refuses it.
      const control = new ControlPlaneClient({
        server: TEST_PUBLIC_URL,
        auth: { gatewayId: r.gateway.gatewayId, privateJwk: r.gateway.privateJwk },
        fetch: ((url: string, init: RequestInit) =>
          undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch,
      });
      await control.offerUploads({
        objects: [
          {
            objectId: bad.id,
            sopInstanceUid: bad.sopInstanceUid,
            sha256: 'f'.repeat(64),
            plainBytes: bad.plainBytes,
            objectBytes: bad.objectBytes,
            receivedAt: bad.receivedAt,
          },
        ],
      });
      const uploader = r.uploader();
      uploader.start();
      await until('both settled', () => states(r.spool).spooled === undefined);
      expect(r.spool.log.get(good.id)?.state).toBe('delivered');
      expect(r.spool.log.get(bad.id)?.state).toBe('quarantined');
      expect(uploader.stats().errorsTotal).toBeGreaterThanOrEqual(1);
      expect(uploader.stats().lastError?.code).toMatch(/^[a-z]+\.[a-z_]+$/);
      await uploader.stop();
      // A quarantined object is not offered again.
      const offered = r.offers.flat().filter((o) => o.objectId === bad.id);
      expect(offered).toHaveLength(1);
      expect(offered[0]).toMatchObject({ status: 'refused', code: 'resource.conflict' });
    } finally {
      await r.close();
    }
  }, 120_000);

  it('counts offers lost together in one dead link as one failure: the backoff does not pile up', async () => {
    // A black hole in front of the control plane: it takes the requests and never answers.
    const held: Socket[] = [];
    const hole = createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
      s.resume();
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const holePort = (hole.address() as AddressInfo).port;
    let holed = true;
    const link = new Agent({
      connect: (_opts, cb) => {
        const socket = connect(holed ? holePort : cpPort, '127.0.0.1');
        socket.once('connect', () => cb(null, socket));
        socket.once('error', (err) => cb(err, null));
      },
    });
    const warnings: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const r = await rig({ dispatcher: link, offerTimeoutMs: 4000, log });
    try {
      // Instances arriving one by one while the link is dead: each goes out in a batch of its own,
      // all four out before the first times out.
      const uploader = r.uploader({ parallelism: 4 });
      uploader.start();
      for (let i = 0; i < 4; i++) {
        await receive(r.spool);
        await until(`offer ${i + 1} in the hole`, () => held.length === i + 1);
      }
      holed = false;
      await until('all delivered', () => r.spool.log.all().every((e) => e.state === 'delivered'));
      const failed = warnings.filter((w) => w.event === 'upload.offer_failed');
      expect(failed).toHaveLength(4);
      // One outage, one step (0 once a later offer got through): never 2, 3, 4 for the same one.
      expect(failed.filter((f) => Number(f.attempt) > 1)).toEqual([]);
      expect(failed.filter((f) => Number(f.delayMs) > 50)).toEqual([]);
      await uploader.stop();
    } finally {
      await r.close();
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => hole.close(() => resolve()));
      await link.close();
    }
  }, 120_000);

  it('stops when the control plane says the gateway must enroll again, and keeps the spool', async () => {
    const r = await rig();
    try {
      const e = await receive(r.spool);
      await r.gateway.revoke();
      let told = 0;
      const uploader = r.uploader({}, async () => {
        told++;
      });
      uploader.start();
      await until('reenroll', () => told === 1);
      expect(uploader.state).toBe('reenroll-required');
      expect(r.spool.log.get(e.id)?.state).toBe('spooled');
      // No further calls once stopped.
      const calls = r.calls.offer;
      await receive(r.spool, { sample: 'MR_small.dcm' });
      await new Promise((res) => setTimeout(res, 700));
      expect(r.calls.offer).toBe(calls);
    } finally {
      await r.close();
    }
  }, 120_000);
});
