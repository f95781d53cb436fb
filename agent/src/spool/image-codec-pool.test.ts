import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { decodeJpegLsFrame, initJpegLs, type PixelBand } from '@ferry/shared';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImageCodecPool } from './image-codec-pool.js';

const band: PixelBand = {
  width: 256,
  height: 128,
  components: 1,
  sampleBytes: 2,
  bigEndian: false,
  signed: false,
};

/** Smooth 12-bit samples with a little noise, as a CT band: JPEG-LS codes it well. */
function samples(): Buffer {
  const b = Buffer.allocUnsafeSlow(band.width * band.height * 2);
  let x = 7;
  for (let i = 0; i < b.length; i += 2) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b.writeUInt16LE(((i >> 7) & 0x7ff) + (x & 15), i);
  }
  return b;
}

/** A worker module given as a data: URL, for the ways a worker can fail. */
const workerOf = (code: string) =>
  new URL(
    `data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads'; ${code}`)}`,
  );

describe('ImageCodecPool', () => {
  const pools: ImageCodecPool[] = [];
  const pool = (opts: ConstructorParameters<typeof ImageCodecPool>[0] = {}) => {
    const p = new ImageCodecPool(opts);
    pools.push(p);
    return p;
  };
  beforeAll(async () => {
    await initJpegLs(
      await readFile(createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm')),
    );
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  it('codes a band on a worker, hands the band over without a copy, and measures its rate', async () => {
    const p = pool({ size: 2 });
    expect(p.workerBytesPerSecond()).toBeUndefined();
    const raw = samples();
    const expected = Buffer.from(raw);
    const coded = await p.encode(raw, band);
    // Transferred to the worker: the caller's buffer is detached.
    expect(raw.buffer.byteLength).toBe(0);
    expect(coded.frame).toBeDefined();
    expect(coded.frame!.length).toBeLessThan(expected.length / 2);
    expect(decodeJpegLsFrame(coded.frame!).equals(expected)).toBe(true);
    expect(coded.ms).toBeGreaterThan(0);
    expect(p.workerBytesPerSecond()).toBeGreaterThan(0);
  });

  it('copies a band that is a view of a larger buffer rather than take the whole buffer', async () => {
    const p = pool({ size: 1 });
    const big = Buffer.alloc(band.width * band.height * 2 + 100);
    samples().copy(big, 100);
    const view = big.subarray(100);
    const coded = await p.encode(view, band);
    expect(big.buffer.byteLength).toBe(big.length);
    expect(decodeJpegLsFrame(coded.frame!).equals(big.subarray(100))).toBe(true);
  });

  it('starts its workers ahead of the first band when warmed, and only once', async () => {
    const p = pool({ size: 2 });
    expect(p.workers).toBe(0);
    p.warm();
    p.warm();
    expect(p.workers).toBe(2);
    const copies = [samples(), samples()];
    const out = await Promise.all(copies.map((b) => p.encode(Buffer.from(b), band)));
    out.forEach((o, k) => {
      expect(decodeJpegLsFrame(o.frame!).equals(copies[k]!)).toBe(true);
    });
    // The bands went to the warmed workers: none started for them.
    expect(p.workers).toBe(2);
    const closed = pool({ size: 2 });
    await closed.close();
    closed.warm();
    expect(closed.workers).toBe(0);
  });

  it('codes bands given at once on both workers, each to its own frame', async () => {
    const p = pool({ size: 2 });
    const inputs = [0, 1, 2, 3].map((k) => {
      const b = samples();
      b.writeUInt16LE(k, 0);
      return b;
    });
    const copies = inputs.map((b) => Buffer.from(b));
    const out = await Promise.all(inputs.map((b) => p.encode(b, band)));
    out.forEach((o, k) => {
      expect(decodeJpegLsFrame(o.frame!).equals(copies[k]!)).toBe(true);
    });
  });

  it('answers "no frame" for a band of a worker that dies, one that hangs, and a missing worker', async () => {
    const dying = pool({ size: 1, workerUrl: workerOf("parentPort.on('message', () => process.exit(3));") });
    expect((await dying.encode(samples(), band)).frame).toBeUndefined();
    const hanging = pool({
      size: 1,
      jobTimeoutMs: 300,
      workerUrl: workerOf("parentPort.on('message', () => {});"),
    });
    const started = Date.now();
    expect((await hanging.encode(samples(), band)).frame).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const missing = pool({ size: 1, workerUrl: new URL('file:///nonexistent/image-codec-worker.js') });
    expect((await missing.encode(samples(), band)).frame).toBeUndefined();
  });

  it('stops starting workers after five deaths, and codes nothing once closed', async () => {
    // Each worker says it started on a channel every thread of this process shares.
    const channel = new BroadcastChannel('ferry-image-pool-test');
    let started = 0;
    channel.onmessage = () => started++;
    const dying = pool({
      size: 1,
      workerUrl: workerOf(
        "new BroadcastChannel('ferry-image-pool-test').postMessage(1); parentPort.on('message', () => process.exit(3));",
      ),
    });
    for (let i = 0; i < 8; i++) expect((await dying.encode(samples(), band)).frame).toBeUndefined();
    await new Promise((r) => setTimeout(r, 200));
    channel.close();
    expect(started).toBe(5);
    const p = pool();
    await p.close();
    expect((await p.encode(samples(), band)).frame).toBeUndefined();
  });

  it('sends a band as zstd at once when the queue is full', async () => {
    const p = pool({
      size: 1,
      maxQueued: 1,
      workerUrl: workerOf("parentPort.on('message', () => {});"),
      jobTimeoutMs: 60_000,
    });
    void p.encode(samples(), band); // on the worker
    void p.encode(samples(), band); // queued
    const t = Date.now();
    expect((await p.encode(samples(), band)).frame).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(100);
  });
});
