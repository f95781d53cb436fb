import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CompressionChoice } from './compression-choice.js';
import {
  type AutoCompression,
  DEFAULT_CODEC_BYTES_PER_SECOND,
  DEFAULT_IMAGE_RATIO,
  DEFAULT_ZSTD_RATIO,
  IMAGE_GAIN,
  INITIAL_AUTO,
  MIN_HOLD_MS,
  nextAutoCompression,
  OFF_DRAIN_SECONDS,
  ON_DRAIN_SECONDS,
  predictedTimes,
  RECEIVE_BYTES_PER_SECOND,
  UNMEASURED_OFF_BYTES,
  UNMEASURED_ON_BYTES,
  type UplinkView,
} from './compression-policy.js';
import { DRAIN_WINDOW_MS, DrainMeter, MIN_SPAN_MS } from './drain-meter.js';
import { spoolPaths } from './paths.js';
import { UplinkMemory } from './uplink-memory.js';

const MB = 1e6;
const zstd: AutoCompression = { coding: 'zstd', reason: 'slow_uplink', since: 0 };
const image: AutoCompression = { coding: 'image', reason: 'uplink_slower_than_codec', since: 0 };

describe('auto compression policy', () => {
  const codec = 30 * MB;
  const view = (over: Partial<UplinkView>): UplinkView => ({
    backlogBytes: 0,
    linkBytesPerSecond: undefined,
    codecBytesPerSecond: codec,
    now: MIN_HOLD_MS * 10,
    ...over,
  });

  it('with no rate ever measured: none for a small backlog, image for a large one, keeps it between', () => {
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: 0 }))).toBe(INITIAL_AUTO);
    const ct = 160 * MB;
    expect(ct).toBeLessThan(UNMEASURED_ON_BYTES);
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: ct })).coding).toBe('none');
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: UNMEASURED_ON_BYTES }))).toMatchObject({
      coding: 'image',
      reason: 'large_backlog_unmeasured',
    });
    const between = (UNMEASURED_ON_BYTES + UNMEASURED_OFF_BYTES) / 2;
    expect(nextAutoCompression(image, view({ backlogBytes: between }))).toBe(image);
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: between }))).toBe(INITIAL_AUTO);
    expect(nextAutoCompression(image, view({ backlogBytes: UNMEASURED_OFF_BYTES - 1 })).coding).toBe('none');
  });

  it('codes images for any backlog, even one study, when the link is slower than the codec', () => {
    const link = 2.5 * MB; // 20 Mbit/s
    for (const backlogBytes of [0, 1 * MB, 1000 * MB])
      expect(
        nextAutoCompression(INITIAL_AUTO, view({ backlogBytes, linkBytesPerSecond: link, now: 1000 })),
      ).toEqual({ coding: 'image', reason: 'uplink_slower_than_codec', since: 1000 });
    // A stalled uplink (rate 0 with a backlog) is slower than any codec.
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: 1, linkBytesPerSecond: 0 })).coding).toBe(
      'image',
    );
  });

  it('goes by DEFAULT_CODEC_BYTES_PER_SECOND until the codec has a measured rate', () => {
    const link = DEFAULT_CODEC_BYTES_PER_SECOND / 6;
    const unknownCodec = view({ linkBytesPerSecond: link, codecBytesPerSecond: undefined });
    expect(nextAutoCompression(INITIAL_AUTO, unknownCodec).coding).toBe('image');
    // A codec measured as slow as the link: each C-STORE would wait longer for it than zstd's upload takes.
    const slowCodec = view({ linkBytesPerSecond: link, codecBytesPerSecond: link });
    expect(nextAutoCompression(INITIAL_AUTO, slowCodec)).toMatchObject({
      coding: 'zstd',
      reason: 'slow_uplink',
    });
  });

  it("with a link faster than the codec, keeps zstd/none by the backlog's drain time", () => {
    const rate = 100 * MB;
    expect(
      nextAutoCompression(
        INITIAL_AUTO,
        view({ backlogBytes: rate * (ON_DRAIN_SECONDS + 1), linkBytesPerSecond: rate }),
      ),
    ).toMatchObject({ coding: 'zstd', reason: 'slow_uplink' });
    expect(
      nextAutoCompression(
        zstd,
        view({ backlogBytes: rate * (OFF_DRAIN_SECONDS - 1), linkBytesPerSecond: rate }),
      ),
    ).toMatchObject({
      coding: 'none',
      reason: 'fast_uplink',
    });
    const between = rate * ((ON_DRAIN_SECONDS + OFF_DRAIN_SECONDS) / 2);
    expect(nextAutoCompression(zstd, view({ backlogBytes: between, linkBytesPerSecond: rate }))).toBe(zstd);
    expect(nextAutoCompression(INITIAL_AUTO, view({ backlogBytes: between, linkBytesPerSecond: rate }))).toBe(
      INITIAL_AUTO,
    );
    // An image choice made for a slower link steps down to zstd there: the codec would hold it back.
    expect(
      nextAutoCompression(image, view({ backlogBytes: between, linkBytesPerSecond: rate })),
    ).toMatchObject({
      coding: 'zstd',
      reason: 'slow_uplink',
    });
  });

  it('holds every change for MIN_HOLD_MS, but names a new reason for the same coding at once', () => {
    const fast = { backlogBytes: 1 * MB, linkBytesPerSecond: 100 * MB };
    const since = { ...zstd, since: 1000 };
    expect(nextAutoCompression(since, view({ ...fast, now: 1000 + MIN_HOLD_MS - 1 }))).toBe(since);
    expect(nextAutoCompression(since, view({ ...fast, now: 1000 + MIN_HOLD_MS }))).toEqual({
      coding: 'none',
      reason: 'fast_uplink',
      since: 1000 + MIN_HOLD_MS,
    });
    const unmeasured: AutoCompression = { coding: 'image', reason: 'large_backlog_unmeasured', since: 1000 };
    expect(nextAutoCompression(unmeasured, view({ linkBytesPerSecond: 1 * MB, now: 1001 }))).toEqual({
      coding: 'image',
      reason: 'uplink_slower_than_codec',
      since: 1000,
    });
  });
});

describe('auto compression policy, by the link estimate (issue 19: a fast link while coding images)', () => {
  const codec = 40 * MB;
  const at = (over: Partial<UplinkView>): UplinkView => ({
    backlogBytes: 20 * MB,
    linkBytesPerSecond: undefined,
    codecBytesPerSecond: codec,
    now: MIN_HOLD_MS * 10,
    ...over,
  });

  it('leaves image on a 1 Gbit/s link (120 MB/s) with the codec at 40 MB/s: the zstd/none rule decides', () => {
    const gigabit = 120 * MB;
    expect(nextAutoCompression(image, at({ linkBytesPerSecond: gigabit }))).toMatchObject({
      coding: 'none',
      reason: 'fast_uplink',
    });
    // A backlog that takes longer than ON_DRAIN_SECONDS to drain even at 1 Gbit/s gets zstd.
    const big = gigabit * (ON_DRAIN_SECONDS + 1);
    expect(nextAutoCompression(image, at({ backlogBytes: big, linkBytesPerSecond: gigabit }))).toMatchObject({
      coding: 'zstd',
      reason: 'slow_uplink',
    });
  });

  it('keeps image on a 20 Mbit/s link, and chooses it there from none', () => {
    const link = 2.5 * MB;
    expect(nextAutoCompression(image, at({ linkBytesPerSecond: link }))).toBe(image);
    expect(nextAutoCompression(INITIAL_AUTO, at({ linkBytesPerSecond: link }))).toMatchObject({
      coding: 'image',
      reason: 'uplink_slower_than_codec',
    });
  });

  it('waits out the hold of a choice just made, even for a gigabit estimate', () => {
    const justChosen = { ...image, since: 1000 };
    const gigabit = at({ linkBytesPerSecond: 120 * MB, now: 1000 + MIN_HOLD_MS - 1 });
    expect(nextAutoCompression(justChosen, gigabit)).toBe(justChosen);
    expect(nextAutoCompression(justChosen, { ...gigabit, now: 1000 + MIN_HOLD_MS }).coding).toBe('none');
  });
});

describe('auto compression policy, by predicted study time (issue 19: intake at 100 Mbit/s)', () => {
  const at = (over: Partial<UplinkView>): UplinkView => ({
    backlogBytes: 20 * MB,
    linkBytesPerSecond: undefined,
    codecBytesPerSecond: 25 * MB,
    now: MIN_HOLD_MS * 10,
    ...over,
  });
  const mbit = (n: number) => (n * 1e6) / 8;

  it('predicts each coding as the slower of intake (receive, plus the codec for image) and upload', () => {
    const t = predictedTimes(at({}), mbit(100));
    expect(t.image).toBeCloseTo(1 / RECEIVE_BYTES_PER_SECOND + 1 / (25 * MB), 15);
    expect(t.zstd).toBeCloseTo(1 / (mbit(100) * DEFAULT_ZSTD_RATIO), 15);
    expect(t.none).toBeCloseTo(1 / mbit(100), 15);
    // On a slow link every coding is upload-bound: ratios alone decide.
    const slow = predictedTimes(at({}), mbit(20));
    expect(slow.image).toBeCloseTo(1 / (mbit(20) * DEFAULT_IMAGE_RATIO), 15);
  });

  it('codes images at 20 Mbit/s, for any backlog', () => {
    for (const backlogBytes of [0, 1 * MB, 1000 * MB])
      expect(nextAutoCompression(zstd, at({ backlogBytes, linkBytesPerSecond: mbit(20) }))).toMatchObject({
        coding: 'image',
        reason: 'uplink_slower_than_codec',
      });
  });

  it('takes zstd at 100 Mbit/s with the codec at 25 MB/s a worker, even for one small study', () => {
    for (const prev of [INITIAL_AUTO, image, zstd])
      for (const backlogBytes of [0, 1 * MB, 1000 * MB])
        expect(nextAutoCompression(prev, at({ backlogBytes, linkBytesPerSecond: mbit(100) }))).toMatchObject({
          coding: 'zstd',
          reason: 'slow_uplink',
        });
  });

  it('leaves 1 Gbit/s to the backlog rule: none for a small backlog, zstd for a large one', () => {
    const gigabit = mbit(1000);
    for (const prev of [INITIAL_AUTO, image]) {
      expect(nextAutoCompression(prev, at({ linkBytesPerSecond: gigabit }))).toMatchObject({
        coding: 'none',
        reason: 'fast_uplink',
      });
      const big = gigabit * (ON_DRAIN_SECONDS + 1);
      expect(nextAutoCompression(prev, at({ backlogBytes: big, linkBytesPerSecond: gigabit }))).toMatchObject(
        { coding: 'zstd', reason: 'slow_uplink' },
      );
    }
  });

  it('takes zstd at 20 Mbit/s when the codec, slowed by load, would hold each C-STORE too long', () => {
    const loaded = at({ linkBytesPerSecond: mbit(20), codecBytesPerSecond: 4 * MB });
    for (const prev of [INITIAL_AUTO, image])
      expect(nextAutoCompression(prev, loaded)).toMatchObject({ coding: 'zstd', reason: 'slow_uplink' });
  });

  it('follows the ratios the spool measured', () => {
    // A codec fast enough that image coding wins at 100 Mbit/s with the default ratios...
    const fast = at({ linkBytesPerSecond: mbit(100), codecBytesPerSecond: 80 * MB });
    expect(nextAutoCompression(zstd, fast).coding).toBe('image');
    // ...loses to zstd on traffic whose pixels JPEG-LS shrinks little more than zstd does,
    expect(nextAutoCompression(zstd, { ...fast, imageRatio: 1.9 }).coding).toBe('zstd');
    // and with the codec at 25 MB/s image wins when zstd gains little on this traffic.
    const slow = at({ linkBytesPerSecond: mbit(100) });
    expect(nextAutoCompression(zstd, slow).coding).toBe('zstd');
    expect(nextAutoCompression(zstd, { ...slow, zstdRatio: 1.2 }).coding).toBe('image');
    // Traffic zstd does not shrink (already compressed pixels) leaves none to the backlog rule.
    const link = at({ backlogBytes: 1 * MB, linkBytesPerSecond: mbit(100), imageRatio: 1, zstdRatio: 1 });
    expect(nextAutoCompression(zstd, link)).toMatchObject({ coding: 'none', reason: 'fast_uplink' });
  });

  it('chooses image only when it predicts IMAGE_GAIN sooner, and keeps it while it predicts sooner at all', () => {
    // At 100 Mbit/s with the codec at 30 MB/s image predicts ~2.5% sooner than zstd: neither flips.
    const close = at({ linkBytesPerSecond: mbit(100), codecBytesPerSecond: 30 * MB });
    const t = predictedTimes(close, mbit(100));
    expect(t.image).toBeLessThan(t.zstd);
    expect(t.image * IMAGE_GAIN).toBeGreaterThan(t.zstd);
    expect(nextAutoCompression(image, close)).toBe(image);
    expect(nextAutoCompression(zstd, close)).toBe(zstd);
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
  function logged() {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const changes = () => lines.filter((l) => l.event === 'spool.compression_changed');
    return { log, changes };
  }

  /** 1 MB a second delivered for 3 s with `backlog` left each time. */
  function deliverAt1MBps(choice: CompressionChoice, clock: { now: number }, backlog: number) {
    for (let i = 0; i <= 3; i++) {
      clock.now = i * 1000;
      choice.delivered(1 * MB, backlog);
    }
  }

  it('codes images for an uplink measured slower than the codec, and says why in stats and the log', () => {
    const clock = { now: 0 };
    const { log, changes } = logged();
    const choice = new CompressionChoice('auto', log, { clock: () => clock.now });
    expect(choice.choose(10 * MB)).toBe('none');
    deliverAt1MBps(choice, clock, 30 * MB);
    expect(choice.choose(30 * MB)).toBe('image');
    expect(choice.status()).toMatchObject({
      mode: 'auto',
      coding: 'image',
      compressing: true,
      reason: 'uplink_slower_than_codec',
      drainBytesPerSecond: 1 * MB,
      codecBytesPerSecond: undefined,
    });
    expect(changes()).toMatchObject([
      {
        coding: 'image',
        reason: 'uplink_slower_than_codec',
        backlogBytes: 30 * MB,
        drainBytesPerSecond: 1 * MB,
      },
    ]);
  });

  it('takes zstd when the codec is slower than the link', () => {
    const clock = { now: 0 };
    const { log, changes } = logged();
    const choice = new CompressionChoice('auto', log, {
      clock: () => clock.now,
      codecBytesPerSecond: () => 0.5 * MB,
    });
    deliverAt1MBps(choice, clock, 30 * MB);
    expect(choice.choose(30 * MB)).toBe('zstd');
    expect(changes()).toMatchObject([
      { coding: 'zstd', reason: 'slow_uplink', codecBytesPerSecond: 0.5 * MB },
    ]);
    // The backlog empties, but the link is as slow as it was: zstd still predicts studies sooner.
    choice.delivered(1 * MB, 0);
    clock.now = 3000 + MIN_HOLD_MS;
    expect(choice.choose(0)).toBe('zstd');
    expect(changes()).toHaveLength(1);
  });

  it("weighs the spool's measured ratios, and logs them with the predicted times", () => {
    const clock = { now: 0 };
    const { log, changes } = logged();
    const ratios = { image: undefined as number | undefined, zstd: undefined as number | undefined };
    const choice = new CompressionChoice('auto', log, {
      clock: () => clock.now,
      codecBytesPerSecond: () => 80 * MB,
      ratios: () => ratios,
    });
    choice.noteLinkRate(12.5 * MB);
    expect(choice.choose(1 * MB)).toBe('image');
    // Pixels that JPEG-LS shrinks less than zstd is assumed to: image coding no longer pays.
    ratios.image = 1.7;
    clock.now = MIN_HOLD_MS;
    expect(choice.choose(1 * MB)).toBe('zstd');
    expect(changes()).toMatchObject([
      { coding: 'image', msPerMB: { image: 26.7 } },
      { coding: 'zstd', imageRatio: 1.7, msPerMB: { zstd: 44.4, none: 80 } },
    ]);
  });

  it('remembers the last measured link over an idle period, and across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-uplink-'));
    try {
      const paths = spoolPaths(dir);
      await mkdir(paths.root, { recursive: true });
      const clock = { now: 0 };
      const log = pino({ level: 'silent' });
      const memory = await UplinkMemory.open(paths, log);
      const choice = new CompressionChoice('auto', log, { clock: () => clock.now, memory });
      deliverAt1MBps(choice, clock, 30 * MB);
      choice.delivered(1 * MB, 0);
      // The meter forgot the busy period; a study arriving after the idle one is still coded for the link.
      clock.now = 3_600_000;
      expect(choice.status()).toMatchObject({
        drainBytesPerSecond: undefined,
        lastDrainBytesPerSecond: 1 * MB,
      });
      expect(choice.choose(0)).toBe('image');
      await choice.flushed();
      const reopened = await UplinkMemory.open(paths, log);
      expect(reopened.get()).toBe(1 * MB);
      const after = new CompressionChoice('auto', log, { clock: () => 0, memory: reopened });
      expect(after.choose(0)).toBe('image');
      // Nothing saved: nothing known, and today's thresholds decide.
      await writeFile(join(paths.root, 'uplink-rate.json'), '{"bytesPer');
      expect((await UplinkMemory.open(paths, log)).get()).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("goes by the uploader's link estimate over the drain rate, and remembers it", () => {
    const clock = { now: 0 };
    const memory = UplinkMemory.inMemory();
    const choice = new CompressionChoice('auto', pino({ level: 'silent' }), {
      clock: () => clock.now,
      codecBytesPerSecond: () => 40 * MB,
      memory,
    });
    // Coding images on a fast link: the spool delivers only what the codec puts out.
    deliverAt1MBps(choice, clock, 30 * MB);
    expect(choice.choose(30 * MB)).toBe('image');
    // The uploader's PUTs found 120 MB/s (1 Gbit/s): once the hold is over, the backlog's drain time decides.
    choice.noteLinkRate(120 * MB);
    clock.now += MIN_HOLD_MS;
    expect(choice.choose(30 * MB)).toBe('none');
    expect(choice.status()).toMatchObject({ reason: 'fast_uplink', linkBytesPerSecond: 120 * MB });
    expect(memory.get()).toBe(120 * MB);
    // An idle spell does not make the codec-bound drain rate the remembered link.
    choice.delivered(1 * MB, 0);
    expect(memory.get()).toBe(120 * MB);
  });

  it('tells the codec to start its workers when objects are to be coded as images, and only then', () => {
    const clock = { now: 0 };
    const log = pino({ level: 'silent' });
    let warmed = 0;
    const onImageCoding = () => warmed++;
    new CompressionChoice('image', log, { onImageCoding });
    expect(warmed).toBe(1);
    const none = new CompressionChoice('none', log, { onImageCoding });
    none.setMode('zstd');
    expect(none.choose(UNMEASURED_ON_BYTES)).toBe('zstd');
    expect(warmed).toBe(1);
    none.setMode('image');
    expect(warmed).toBe(2);
    const auto = new CompressionChoice('auto', log, { clock: () => clock.now, onImageCoding });
    auto.noteLinkRate(120 * MB);
    expect(auto.choose(1 * MB)).toBe('none');
    expect(warmed).toBe(2);
    auto.noteLinkRate(2.5 * MB);
    clock.now = MIN_HOLD_MS;
    expect(auto.choose(1 * MB)).toBe('image');
    expect(auto.choose(1 * MB)).toBe('image');
    expect(warmed).toBe(3);
  });

  it('follows a forced mode whatever the uplink does, and a mode set live from the next object on', () => {
    const log = pino({ level: 'silent' });
    expect(new CompressionChoice('zstd', log).choose(0)).toBe('zstd');
    expect(new CompressionChoice('image', log).choose(0)).toBe('image');
    expect(new CompressionChoice('none', log).choose(UNMEASURED_ON_BYTES * 4)).toBe('none');
    expect(new CompressionChoice('none', log).status()).toMatchObject({
      coding: 'none',
      compressing: false,
      reason: 'forced',
    });
    const choice = new CompressionChoice('none', log);
    choice.setMode('image');
    expect(choice.choose(0)).toBe('image');
    expect(choice.status()).toMatchObject({ mode: 'image', coding: 'image', reason: 'forced' });
    choice.setMode('auto');
    expect(choice.choose(UNMEASURED_ON_BYTES)).toBe('image');
    expect(choice.status()).toMatchObject({ mode: 'auto', reason: 'large_backlog_unmeasured' });
  });
});
