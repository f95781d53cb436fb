/** How a new object's data frames are coded: as received, zstd, or JPEG-LS pixels with zstd around. */
export type ObjectCoding = 'none' | 'zstd' | 'image';

/**
 * Whether a new spool object is compressed with zstd before it is sealed. zstd-1 costs about 2.5 ns
 * a byte on this class of machine and saves ~15 % on CT (1.17:1), so it pays only when the uplink,
 * not the C-STORE path, is the bottleneck. The agent cannot re-encode later (it cannot open its own
 * objects), so the choice is made per object at receipt, from what the spool knows then.
 *
 * `auto` (the default) is the rule below; `zstd` and `none` force it either way (tests, and the
 * `upload.compression` setting to come, whose `image` mode will slot in beside them).
 */
export type CompressionMode = 'auto' | 'image' | 'zstd' | 'none';

/** What the spool knows about its uplink when an object begins. */
export interface UplinkView {
  /** Sealed bytes spooled or uploading: still to be shipped. */
  backlogBytes: number;
  /** Bytes marked delivered per second lately; undefined when nothing measured it yet. */
  drainBytesPerSecond: number | undefined;
  /** Milliseconds on a monotonic clock. */
  now: number;
}

export type CompressionReason =
  | 'forced'
  | 'slow_uplink'
  | 'fast_uplink'
  | 'large_backlog_unmeasured'
  | 'small_backlog_unmeasured';

/** The auto rule's current choice, carried from one object to the next (hysteresis). */
export interface AutoCompression {
  compress: boolean;
  reason: CompressionReason;
  /** When the choice last changed (monotonic ms); -Infinity before the first. */
  since: number;
}

/** Compress once the backlog would take longer than this to drain at the measured rate... */
export const ON_DRAIN_SECONDS = 10;
/** ...and stop once it would drain in less than this. The gap keeps a burst from flapping it. */
export const OFF_DRAIN_SECONDS = 4;
/**
 * With no measured rate (just started, not enrolled, or the cloud unreachable) a backlog this large
 * takes ~20 s even at 100 Mbit/s: compress. A CT study of a few hundred MB that may drain in seconds
 * on a good link is not worth slowing its receipt for.
 */
export const UNMEASURED_ON_BYTES = 256 << 20;
export const UNMEASURED_OFF_BYTES = 64 << 20;
/** A choice holds at least this long, whatever the inputs do meanwhile. */
export const MIN_HOLD_MS = 5_000;

export const INITIAL_AUTO: AutoCompression = {
  compress: false,
  reason: 'small_backlog_unmeasured',
  since: Number.NEGATIVE_INFINITY,
};

/** What the inputs alone ask for, or undefined between the on and off thresholds (keep the choice). */
function wanted(u: UplinkView): { compress: boolean; reason: CompressionReason } | undefined {
  const rate = u.drainBytesPerSecond;
  if (rate === undefined) {
    if (u.backlogBytes >= UNMEASURED_ON_BYTES) return { compress: true, reason: 'large_backlog_unmeasured' };
    if (u.backlogBytes < UNMEASURED_OFF_BYTES) return { compress: false, reason: 'small_backlog_unmeasured' };
    return undefined;
  }
  // A measured rate of 0 (the uplink stalled with a backlog) drains never: compress.
  const drainSeconds = rate > 0 ? u.backlogBytes / rate : u.backlogBytes > 0 ? Infinity : 0;
  if (drainSeconds > ON_DRAIN_SECONDS) return { compress: true, reason: 'slow_uplink' };
  if (drainSeconds < OFF_DRAIN_SECONDS) return { compress: false, reason: 'fast_uplink' };
  return undefined;
}

/** The auto rule: a pure function of the previous choice, the backlog, the drain rate and the clock. */
export function nextAutoCompression(prev: AutoCompression, u: UplinkView): AutoCompression {
  const want = wanted(u);
  if (!want || want.compress === prev.compress) return prev;
  if (u.now - prev.since < MIN_HOLD_MS) return prev;
  return { compress: want.compress, reason: want.reason, since: u.now };
}
