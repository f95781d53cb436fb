import { describe, expect, it } from 'vitest';
import { LINK_WINDOW_BUSY_MS, LinkMeter, MIN_METERED_BYTES, MIN_METERED_PUT_BYTES } from './link-meter.js';

const MiB = 1 << 20;

describe('LinkMeter', () => {
  it('divides bytes by the union of busy intervals: parallel PUTs share their time', () => {
    const m = new LinkMeter();
    // Two 8 MiB PUTs side by side for 1 s, a third overlapping the second by half: busy 0..1500 ms.
    m.started(0);
    m.started(0);
    m.started(500);
    m.ended(8 * MiB, 1000);
    m.ended(8 * MiB, 1000);
    m.ended(8 * MiB, 1500);
    expect(m.bytesPerSecond()).toBeCloseTo((24 * MiB) / 1.5, 0);
  });

  it('leaves idle time between PUTs out: a sender with little to send is not a slow link', () => {
    const m = new LinkMeter();
    m.started(0);
    m.ended(10 * MiB, 100);
    // 10 s with nothing to send (the codec was busy), then another 100 ms PUT.
    m.started(10_100);
    m.ended(10 * MiB, 10_200);
    expect(m.bytesPerSecond()).toBeCloseTo((20 * MiB) / 0.2, 0);
  });

  it('has no estimate before enough bytes were timed, and does not time small PUTs', async () => {
    let now = 0;
    const m = new LinkMeter(() => now);
    m.started(0);
    m.ended(MIN_METERED_BYTES - 1, 1000);
    expect(m.bytesPerSecond()).toBeUndefined();
    // A small PUT neither adds bytes nor busy time.
    await m.timed(MIN_METERED_PUT_BYTES - 1, async () => {
      now += 60_000;
    });
    await m.timed(MIN_METERED_PUT_BYTES, async () => {
      now += 1000;
    });
    expect(m.bytesPerSecond()).toBeCloseTo(
      ((MIN_METERED_BYTES - 1 + MIN_METERED_PUT_BYTES) * 1000) / 2000,
      0,
    );
  });

  it('counts the time of a failed PUT but not its bytes', async () => {
    let now = 0;
    const m = new LinkMeter(() => now);
    await expect(
      m.timed(8 * MiB, async () => {
        now += 1000;
        throw new Error('reset');
      }),
    ).rejects.toThrow('reset');
    await m.timed(8 * MiB, async () => {
      now += 1000;
    });
    expect(m.bytesPerSecond()).toBeCloseTo((8 * MiB) / 2, 0);
  });

  it('follows a change of link within its window of busy time (a cap lifted)', () => {
    const m = new LinkMeter();
    let t = 0;
    const put = (bytes: number, ms: number) => {
      m.started(t);
      t += ms;
      m.ended(bytes, t);
    };
    // 2.5 MB/s (20 Mbit/s, or a cap) for a minute of busy time...
    for (let i = 0; i < 60; i++) put(2.5e6, 1000);
    expect(m.bytesPerSecond()).toBeCloseTo(2.5e6, -3);
    // ...then 120 MB/s: once the window's busy time is all new, the estimate is the new link.
    for (let i = 0; i < (LINK_WINDOW_BUSY_MS / 100) * 1.5; i++) put(12e6, 100);
    expect(m.bytesPerSecond()).toBeGreaterThan(100e6);
    expect(m.bytesPerSecond()).toBeLessThanOrEqual(120e6 + 1);
  });

  it('keeps enough bytes to measure a very slow link', () => {
    const m = new LinkMeter();
    let t = 0;
    for (let i = 0; i < 100; i++) {
      m.started(t);
      t += 5000;
      m.ended(100_000, t);
    }
    expect(m.bytesPerSecond()).toBeCloseTo(20_000, -1);
  });
});
