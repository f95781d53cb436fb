import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CompressionChoice } from './compression-choice.js';
import {
  type AutoCompression,
  INITIAL_AUTO,
  MIN_HOLD_MS,
  nextAutoCompression,
  OFF_DRAIN_SECONDS,
  ON_DRAIN_SECONDS,
  UNMEASURED_OFF_BYTES,
  UNMEASURED_ON_BYTES,
} from './compression-policy.js';
import { DRAIN_WINDOW_MS, DrainMeter, MIN_SPAN_MS } from './drain-meter.js';

const MB = 1e6;
const on: AutoCompression = { compress: true, reason: 'slow_uplink', since: 0 };

describe('auto compression policy', () => {
  it('stays off on a fast link with a small backlog, and with a small unmeasured backlog', () => {
    expect(
      nextAutoCompression(INITIAL_AUTO, { backlogBytes: 50 * MB, drainBytesPerSecond: 100 * MB, now: 0 }),
    ).toBe(INITIAL_AUTO);
    expect(
      nextAutoCompression(INITIAL_AUTO, { backlogBytes: 0, drainBytesPerSecond: undefined, now: 0 }),
    ).toBe(INITIAL_AUTO);
    const ct = 160 * MB;
    expect(ct).toBeLessThan(UNMEASURED_ON_BYTES);
    expect(
      nextAutoCompression(INITIAL_AUTO, { backlogBytes: ct, drainBytesPerSecond: undefined, now: 0 })
        .compress,
    ).toBe(false);
  });

  it('turns on when the backlog would take longer than ON_DRAIN_SECONDS to drain', () => {
    const rate = 1.25 * MB; // 10 Mbit/s
    const next = nextAutoCompression(INITIAL_AUTO, {
      backlogBytes: rate * (ON_DRAIN_SECONDS + 1),
      drainBytesPerSecond: rate,
      now: 1000,
    });
    expect(next).toEqual({ compress: true, reason: 'slow_uplink', since: 1000 });
  });

  it('turns on for a large backlog nobody has measured a rate for, or an uplink that stalled', () => {
    expect(
      nextAutoCompression(INITIAL_AUTO, {
        backlogBytes: UNMEASURED_ON_BYTES,
        drainBytesPerSecond: undefined,
        now: 0,
      }),
    ).toMatchObject({ compress: true, reason: 'large_backlog_unmeasured' });
    expect(
      nextAutoCompression(INITIAL_AUTO, { backlogBytes: 1, drainBytesPerSecond: 0, now: 0 }),
    ).toMatchObject({ compress: true, reason: 'slow_uplink' });
  });

  it('keeps its choice between the on and off thresholds (hysteresis)', () => {
    const rate = 10 * MB;
    const between = rate * ((ON_DRAIN_SECONDS + OFF_DRAIN_SECONDS) / 2);
    const later = MIN_HOLD_MS * 10;
    expect(nextAutoCompression(on, { backlogBytes: between, drainBytesPerSecond: rate, now: later })).toBe(
      on,
    );
    expect(
      nextAutoCompression(INITIAL_AUTO, { backlogBytes: between, drainBytesPerSecond: rate, now: later }),
    ).toBe(INITIAL_AUTO);
    const unmeasuredBetween = (UNMEASURED_ON_BYTES + UNMEASURED_OFF_BYTES) / 2;
    expect(
      nextAutoCompression(on, {
        backlogBytes: unmeasuredBetween,
        drainBytesPerSecond: undefined,
        now: later,
      }),
    ).toBe(on);
  });

  it('turns off once the backlog drains fast, but not within MIN_HOLD_MS of the last change', () => {
    const fast = { backlogBytes: 1 * MB, drainBytesPerSecond: 10 * MB };
    expect(nextAutoCompression(on, { ...fast, now: MIN_HOLD_MS - 1 })).toBe(on);
    expect(nextAutoCompression(on, { ...fast, now: MIN_HOLD_MS })).toEqual({
      compress: false,
      reason: 'fast_uplink',
      since: MIN_HOLD_MS,
    });
  });
});

describe('drain meter', () => {
  it('knows no rate until a busy period has been measured for MIN_SPAN_MS after its first delivery', () => {
    const m = new DrainMeter();
    expect(m.rate(0)).toBeUndefined();
    m.delivered(5 * MB, 10_000);
    m.delivered(2 * MB, 10_000 + MIN_SPAN_MS / 2);
    expect(m.rate(10_000 + MIN_SPAN_MS / 2)).toBeUndefined();
    // The first delivery only starts the clock: 2 MB over 2 s.
    expect(m.rate(12_000)).toBe(1 * MB);
  });

  it('falls when deliveries stop, counts only the last DRAIN_WINDOW_MS, and forgets everything on idle', () => {
    const m = new DrainMeter();
    m.delivered(1, 0);
    for (let t = 1000; t <= 10_000; t += 1000) m.delivered(1 * MB, t);
    expect(m.rate(10_000)).toBe(1 * MB);
    expect(m.rate(20_000)).toBe(0.5 * MB);
    expect(m.rate(DRAIN_WINDOW_MS + 10_001)).toBe(0);
    m.idle();
    expect(m.rate(DRAIN_WINDOW_MS + 10_001)).toBeUndefined();
  });
});

describe('compression choice', () => {
  it('compresses for a slow uplink measured from delivered marks, and says why in stats', () => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const choice = new CompressionChoice('auto', log, () => now);
    expect(choice.choose(10 * MB)).toBe('none');
    // 1 MB a second delivered while 30 MB wait: 30 s to drain.
    for (let i = 0; i <= 3; i++) {
      now = i * 1000;
      choice.delivered(1 * MB, 30 * MB);
    }
    now = 3000;
    expect(choice.choose(30 * MB)).toBe('zstd');
    expect(choice.status()).toMatchObject({ mode: 'auto', compressing: true, reason: 'slow_uplink' });
    expect(lines.filter((l) => l.event === 'spool.compression_changed')).toMatchObject([
      { compress: true, reason: 'slow_uplink', backlogBytes: 30 * MB, drainBytesPerSecond: 1 * MB },
    ]);
    // The backlog empties: the uplink kept up, and the next object goes uncompressed.
    choice.delivered(1 * MB, 0);
    now = 3000 + MIN_HOLD_MS;
    expect(choice.choose(0)).toBe('none');
    expect(lines.filter((l) => l.event === 'spool.compression_changed')).toHaveLength(2);
  });

  it('follows a forced mode whatever the uplink does', () => {
    const log = pino({ level: 'silent' });
    expect(new CompressionChoice('zstd', log).choose(0)).toBe('zstd');
    expect(new CompressionChoice('none', log).choose(UNMEASURED_ON_BYTES * 4)).toBe('none');
    expect(new CompressionChoice('none', log).status()).toMatchObject({
      compressing: false,
      reason: 'forced',
    });
  });
});
