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
  /** Raw bytes per second the image codec codes and verifies (all its workers); undefined: unknown. */
  codecBytesPerSecond: number | undefined;
  /** Milliseconds on a monotonic clock. */
  now: number;
}

export type CompressionReason =
  | 'forced'
  /** The uplink is slower than the image codec: coding costs less time than it saves on the wire. */
  | 'uplink_slower_than_codec'
  /** The codec would be the bottleneck, but the backlog drains slowly: zstd's cheap gain pays. */
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
 * Image coding stays on until the link is this much faster than the codec: near the crossover the
 * two cost about the same, and a link rate that wobbles around the codec's must not flap the choice.
 */
export const IMAGE_OFF_FACTOR = 1.25;
/**
 * With a link faster than the codec, zstd (~400 MB/s, ~1.2:1) pays once the backlog would take
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

/**
 * What the inputs alone ask for, or undefined between on and off thresholds (keep the choice).
 *
 * The study is retrievable after roughly max(receive + code time, upload time). Image coding gains
 * 3-4x on CT and MR but codes at the codec's rate, so it wins whenever the link is slower than the
 * codec, even for one study; zstd is nearly free but gains ~1.2x, so it pays only for a backlog.
 */
function wanted(prev: AutoCompression, u: UplinkView): Want | undefined {
  const rate = u.linkBytesPerSecond;
  if (rate === undefined) {
    if (u.backlogBytes >= UNMEASURED_ON_BYTES) return { coding: 'image', reason: 'large_backlog_unmeasured' };
    if (u.backlogBytes < UNMEASURED_OFF_BYTES) return { coding: 'none', reason: 'small_backlog_unmeasured' };
    return undefined;
  }
  const codec = u.codecBytesPerSecond ?? DEFAULT_CODEC_BYTES_PER_SECOND;
  // A measured rate of 0 (the uplink stalled with a backlog) is slower than any codec.
  const slowerThan = prev.coding === 'image' ? codec * IMAGE_OFF_FACTOR : codec;
  if (rate < slowerThan) return { coding: 'image', reason: 'uplink_slower_than_codec' };
  const drainSeconds = u.backlogBytes / rate;
  if (drainSeconds > ON_DRAIN_SECONDS) return { coding: 'zstd', reason: 'slow_uplink' };
  if (drainSeconds < OFF_DRAIN_SECONDS) return { coding: 'none', reason: 'fast_uplink' };
  // Between the zstd thresholds an image choice made for a slow link falls back to zstd, not none.
  return prev.coding === 'image' ? { coding: 'zstd', reason: 'slow_uplink' } : undefined;
}

/** The auto rule: a pure function of the previous choice, the backlog, the two rates and the clock. */
export function nextAutoCompression(prev: AutoCompression, u: UplinkView): AutoCompression {
  const want = wanted(prev, u);
  if (!want) return prev;
  // The same coding for another reason (a slow link now measured): say so, without resetting the hold.
  if (want.coding === prev.coding)
    return want.reason === prev.reason ? prev : { ...prev, reason: want.reason };
  if (u.now - prev.since < MIN_HOLD_MS) return prev;
  return { coding: want.coding, reason: want.reason, since: u.now };
}
