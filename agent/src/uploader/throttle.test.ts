import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { TokenBucket, throttle } from './throttle.js';

/** Pushes `bytes` through `throttle(bucket)` in 32 KiB chunks; resolves with the elapsed ms. */
async function pump(bucket: TokenBucket | undefined, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(32 << 10);
  let left = bytes;
  const source = new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(chunk.subarray(0, n));
    },
  });
  let seen = 0;
  const sink = new Writable({
    write(c: Buffer, _enc, cb) {
      seen += c.length;
      cb();
    },
  });
  const start = performance.now();
  await pipeline(source, throttle(bucket), sink);
  expect(seen).toBe(bytes);
  return performance.now() - start;
}

describe('throttle (real clock)', () => {
  it('holds one stream to the rate: 400 KB at 300 KB/s takes about 1.3 s', async () => {
    const bucket = new TokenBucket(300_000);
    // The bucket starts full (burst), so the time is (bytes - burst) / rate.
    const expected = ((400_000 - bucket.burstBytes) / 300_000) * 1000;
    const ms = await pump(bucket, 400_000);
    expect(ms).toBeGreaterThan(expected * 0.9);
    expect(ms).toBeLessThan(expected * 1.5 + 200);
  });

  it('shares the rate between concurrent streams', async () => {
    const bucket = new TokenBucket(400_000);
    const expected = ((3 * 150_000 - bucket.burstBytes) / 400_000) * 1000;
    const start = performance.now();
    const each = await Promise.all([pump(bucket, 150_000), pump(bucket, 150_000), pump(bucket, 150_000)]);
    const ms = performance.now() - start;
    expect(ms).toBeGreaterThan(expected * 0.9);
    expect(ms).toBeLessThan(expected * 1.5 + 200);
    // Fair: no stream finished in much less than the others.
    expect(Math.min(...each)).toBeGreaterThan(Math.max(...each) * 0.6);
  });

  it('passes bytes straight through without a bucket', async () => {
    expect(await pump(undefined, 8 << 20)).toBeLessThan(2000);
  });

  it('counts bytes taken while in debt against later takers', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, { burstBytes: 100, now: () => now });
    expect(bucket.reserve(100)).toBe(0);
    expect(bucket.reserve(500)).toBe(500);
    expect(bucket.reserve(500)).toBe(1000);
    now = 1000;
    expect(bucket.reserve(0)).toBe(0);
    now = 5000;
    expect(bucket.reserve(100)).toBe(0);
    expect(bucket.reserve(1)).toBeGreaterThan(0);
  });

  it('changes its rate live: time so far accrues at the old rate, debt is paid at the new one', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, { burstBytes: 100, now: () => now });
    expect(bucket.reserve(1100)).toBe(1000);
    now = 500; // 500 bytes accrued at 1000 B/s: 500 still owed
    bucket.setRate(250);
    expect(bucket.bytesPerSecond).toBe(250);
    expect(bucket.reserve(0)).toBe(2000);
    now = 2500;
    expect(bucket.reserve(0)).toBe(0);
    expect(() => bucket.setRate(0)).toThrow(RangeError);
  });
});
