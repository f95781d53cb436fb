import type { UploadCompressionMode } from '@ferry/shared';

/** How a new object's data frames are coded: as received, zstd, or JPEG-LS pixels with zstd around. */
export type ObjectCoding = 'none' | 'zstd' | 'image';

/**
 * How new spool objects are coded (the `upload.compression` setting): `auto` (the default) is the
 * rule below; `image`, `zstd` and `none` force it. The agent cannot re-encode later (it cannot open
 * its own objects after a restart), so the choice is made per object at receipt, from what the spool
 * knows then.
 */
export type CompressionMode = UploadCompressionMode;

/** What the spool knows about its uplink and its codec when an object begins. */
export interface UplinkView {
  /** Sealed bytes spooled or uploading: still to be shipped. */
  backlogBytes: number;
  /**
   * What the uplink carries per second: the uploader's estimate (bytes PUT per second of time with a
   * PUT in flight, so neither idle time nor a sender held back by the codec lowers it; a bandwidth
   * cap does, as it should), else the spool's drain rate while no estimate exists yet, else the last
   * rate known before the uplink went idle; undefined when nothing was ever measured.
   */
  linkBytesPerSecond: number | undefined;
  /**
   * Raw bytes per second one image codec worker codes and verifies; undefined: unknown. The C-STORE
   * of an image object waits for its last bands, so this, not the whole pool's rate, bounds intake.
   */
  codecBytesPerSecond: number | undefined;
  /** Raw ÷ sealed bytes of recent image objects of this spool; undefined: too few measured yet. */
  imageRatio?: number | undefined;
  /** The same for recent zstd objects. */
  zstdRatio?: number | undefined;
  /** Milliseconds on a monotonic clock. */
  now: number;
}

export type CompressionReason =
  | 'forced'
  /**
   * Image coding is predicted to make studies retrievable clearly sooner than zstd: the link, not
   * the codec on the C-STORE path, is what holds them back (the name is older than the rule).
   */
  | 'uplink_slower_than_codec'
  /** Image coding would hold intake back, but zstd predicts studies sooner than none, or the backlog drains slowly. */
  | 'slow_uplink'
  | 'fast_uplink'
  | 'large_backlog_unmeasured'
  | 'small_backlog_unmeasured';

/** The auto rule's current choice, carried from one object to the next (hysteresis). */
export interface AutoCompression {
  coding: ObjectCoding;
  reason: CompressionReason;
  /** When the choice last changed (monotonic ms); -Infinity before the first. */
  since: number;
}

/**
 * The codec's rate until the worker pool has measured one: JPEG-LS encode + verify runs at about
 * 40 MB/s of raw pixels per worker here, so one worker's worth, rounded down, never overstates it.
 */
export const DEFAULT_CODEC_BYTES_PER_SECOND = 30e6;
/**
 * What the receive path takes in per second without the image codec (parse, zstd on the thread
 * pool, seal, fsync): about what storescu reaches against the gateway with zstd. Image coding adds
 * the codec's time on top, as a C-STORE is answered only once its bands are sealed.
 */
export const RECEIVE_BYTES_PER_SECOND = 100e6;
/** Raw ÷ sealed until the spool has measured its own: JPEG-LS on CT and MR, zstd-1 on the same. */
export const DEFAULT_IMAGE_RATIO = 3;
export const DEFAULT_ZSTD_RATIO = 1.8;
/**
 * A coding is chosen by predicted time only when that is this much below the others', and left once
 * it is no longer below: near a crossover two codings cost about the same, and inputs that wobble
 * around it must not flap the choice.
 */
export const IMAGE_GAIN = 1.1;
/**
 * When image coding does not pay, zstd (~400 MB/s, ~1.2:1) pays once the backlog would take
 * longer than this to drain at the measured rate...
 */
export const ON_DRAIN_SECONDS = 10;
/** ...and stops once it would drain in less than this. The gap keeps a burst from flapping it. */
export const OFF_DRAIN_SECONDS = 4;
/**
 * With no rate ever measured (just installed, not enrolled, the cloud never reached) a backlog this
 * large takes ~20 s even at 100 Mbit/s: code it. A CT study of a few hundred MB that may drain in
 * seconds on a good link is not worth slowing its receipt for.
 */
export const UNMEASURED_ON_BYTES = 256 << 20;
export const UNMEASURED_OFF_BYTES = 64 << 20;
/** A choice holds at least this long, whatever the inputs do meanwhile. */
export const MIN_HOLD_MS = 5_000;

export const INITIAL_AUTO: AutoCompression = {
  coding: 'none',
  reason: 'small_backlog_unmeasured',
  since: Number.NEGATIVE_INFINITY,
};

type Want = { coding: ObjectCoding; reason: CompressionReason };

/** Predicted seconds per raw byte of a study under each coding: the slower of intake and upload. */
export interface PredictedTimes {
  image: number;
  zstd: number;
  none: number;
}

/**
 * The study is retrievable after about max(intake time, upload time). zstd and none take in at the
 * receive path's rate; image coding adds the codec's time per byte to each C-STORE (coding is on its
 * path). Each ships its ratio times fewer bytes. A stalled link (rate 0) counts as one byte a
 * second: only the ratios differ then.
 */
export function predictedTimes(u: UplinkView, link: number): PredictedTimes {
  const codec = u.codecBytesPerSecond ?? DEFAULT_CODEC_BYTES_PER_SECOND;
  const rate = Math.max(link, 1);
  const receive = 1 / RECEIVE_BYTES_PER_SECOND;
  return {
    image: Math.max(receive + 1 / codec, 1 / (rate * (u.imageRatio ?? DEFAULT_IMAGE_RATIO))),
    zstd: Math.max(receive, 1 / (rate * (u.zstdRatio ?? DEFAULT_ZSTD_RATIO))),
    none: Math.max(receive, 1 / rate),
  };
}

/**
 * What the inputs alone ask for, or undefined between on and off thresholds (keep the choice).
 *
 * A coding is chosen when its predicted study time is clearly (IMAGE_GAIN) below the cheaper
 * codings', and kept while it is below: image (3-4x on CT and MR) on a slow link even for one study,
 * zstd where image coding would hold intake back but the link is still the bottleneck. When neither
 * predicts a gain (the link outruns the receive path), the backlog's drain time decides zstd or none.
 */
function wanted(prev: AutoCompression, u: UplinkView): Want | undefined {
  const rate = u.linkBytesPerSecond;
  if (rate === undefined) {
    if (u.backlogBytes >= UNMEASURED_ON_BYTES) return { coding: 'image', reason: 'large_backlog_unmeasured' };
    if (u.backlogBytes < UNMEASURED_OFF_BYTES) return { coding: 'none', reason: 'small_backlog_unmeasured' };
    return undefined;
  }
  const t = predictedTimes(u, rate);
  const gain = (c: ObjectCoding) => (prev.coding === c ? 1 : IMAGE_GAIN);
  if (t.image * gain('image') < Math.min(t.zstd, t.none))
    return { coding: 'image', reason: 'uplink_slower_than_codec' };
  if (t.zstd * gain('zstd') < t.none) return { coding: 'zstd', reason: 'slow_uplink' };
  const drainSeconds = u.backlogBytes / rate;
  if (drainSeconds > ON_DRAIN_SECONDS) return { coding: 'zstd', reason: 'slow_uplink' };
  if (drainSeconds < OFF_DRAIN_SECONDS) return { coding: 'none', reason: 'fast_uplink' };
  // Between the zstd thresholds an image choice that no longer pays falls back to zstd, not none.
  return prev.coding === 'image' ? { coding: 'zstd', reason: 'slow_uplink' } : undefined;
}

/** The auto rule: a pure function of the previous choice, the backlog, the rates, the ratios and the clock. */
export function nextAutoCompression(prev: AutoCompression, u: UplinkView): AutoCompression {
  const want = wanted(prev, u);
  if (!want) return prev;
  // The same coding for another reason (a slow link now measured): say so, without resetting the hold.
  if (want.coding === prev.coding)
    return want.reason === prev.reason ? prev : { ...prev, reason: want.reason };
  if (u.now - prev.since < MIN_HOLD_MS) return prev;
  return { coding: want.coding, reason: want.reason, since: u.now };
}
