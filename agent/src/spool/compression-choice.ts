import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  type AutoCompression,
  type CompressionMode,
  type CompressionReason,
  INITIAL_AUTO,
  nextAutoCompression,
  type ObjectCoding,
  type PredictedTimes,
  predictedTimes,
  type UplinkView,
} from './compression-policy.js';
import { DrainMeter } from './drain-meter.js';
import { UplinkMemory } from './uplink-memory.js';

/** The compression choice as spool stats show it. */
export interface CompressionStatus {
  mode: CompressionMode;
  /** How objects begun now are coded (when their transfer syntax allows). */
  coding: ObjectCoding;
  /** Whether objects begun now would be compressed at all (coding is not 'none'). */
  compressing: boolean;
  reason: CompressionReason;
  /** Delivered per second in the current busy period; undefined while idle or not yet measured. */
  drainBytesPerSecond: number | undefined;
  /**
   * The uploader's estimate of the link (bytes PUT per second of time with a PUT in flight) since the
   * agent started; undefined until it has one. `auto` goes by it first.
   */
  linkBytesPerSecond: number | undefined;
  /** The last rate known, kept across idle periods and restarts; what `auto` uses while neither is known. */
  lastDrainBytesPerSecond: number | undefined;
  /** One image codec worker's raw bytes per second as last reported; undefined: not measured yet. */
  codecBytesPerSecond: number | undefined;
}

export interface CompressionChoiceOptions {
  /** One image codec worker's measured raw throughput (the pool's); undefined until it has one. */
  codecBytesPerSecond?: () => number | undefined;
  /** Raw ÷ sealed of the spool's recent image and zstd objects; undefined ones take the defaults. */
  ratios?: () => CodingRatios;
  /** The last uplink rate, kept across idle periods and restarts (unset: in memory only). */
  memory?: UplinkMemory;
  /** Milliseconds, monotonic; tests drive it. */
  clock?: () => number;
  /**
   * Called whenever objects begun from now on will be coded as images (mode `image`, or `auto`
   * turning to image), so the codec's workers start before the first band needs one.
   */
  onImageCoding?: () => void;
}

/** What each coding got on the spool's recent objects (CodingTally.ratio). */
export interface CodingRatios {
  image: number | undefined;
  zstd: number | undefined;
}

/**
 * The spool's per-object coding choice: the mode, and in `auto` the policy fed with the spool's
 * backlog, the link rate and the codec's rate. The link rate is the uploader's busy-time estimate
 * (noteLinkRate); until there is one, the drain rate measured from the spool's own delivered marks,
 * which a sender held back by the codec or an idle spell keeps low; else the last rate known.
 * Changes are logged.
 */
export class CompressionChoice {
  private auto: AutoCompression = INITIAL_AUTO;
  private readonly meter = new DrainMeter();
  private readonly memory: UplinkMemory;
  private readonly clock: () => number;
  private readonly codecRate: () => number | undefined;
  private readonly onImageCoding: () => void;
  private readonly ratios: () => CodingRatios;
  /** The uploader's latest link estimate; undefined until it sent enough to have one. */
  private link: number | undefined;

  constructor(
    private mode: CompressionMode,
    private readonly log: Logger,
    opts: CompressionChoiceOptions = {},
  ) {
    this.memory = opts.memory ?? UplinkMemory.inMemory();
    this.clock = opts.clock ?? (() => performance.now());
    this.codecRate = opts.codecBytesPerSecond ?? (() => undefined);
    this.onImageCoding = opts.onImageCoding ?? (() => undefined);
    this.ratios = opts.ratios ?? (() => ({ image: undefined, zstd: undefined }));
    if (mode === 'image') this.onImageCoding();
  }

  /**
   * The `upload.compression` setting changed: objects begun from now on follow `mode`; objects
   * already begun or sealed keep their coding. `auto` starts afresh, free of any hold.
   */
  setMode(mode: CompressionMode): void {
    if (mode === this.mode) return;
    this.log.info(
      { event: 'spool.compression_mode', from: this.mode, to: mode },
      'upload compression mode set',
    );
    this.mode = mode;
    this.auto = INITIAL_AUTO;
    if (mode === 'image') this.onImageCoding();
  }

  /** The uploader's estimate of what the link carries: the rate `auto` goes by, and the one remembered. */
  noteLinkRate(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) return;
    this.link = bytesPerSecond;
    this.memory.set(bytesPerSecond);
    this.memory.save(this.clock());
  }

  /** An object of `bytes` sealed bytes was marked delivered; `backlogBytes` is what is left. */
  delivered(bytes: number, backlogBytes: number): void {
    const now = this.clock();
    if (backlogBytes === 0) this.idle(now);
    else this.meter.delivered(bytes, now);
  }

  /** The backlog is empty: keep what the busy period measured, then let the meter start afresh. */
  private idle(now: number): void {
    const rate = this.meter.rate(now);
    // Once the uploader has measured the link, the drain rate (bounded by the sender) is not remembered.
    if (rate !== undefined && this.link === undefined) {
      this.memory.set(rate);
      this.memory.save(now);
    }
    this.meter.idle();
  }

  /** The link rate `auto` goes by: the uploader's estimate, else the drain rate now, else the last known. */
  private linkRate(now: number): { rate: number | undefined; source: 'uploader' | 'drain' | 'last' } {
    if (this.link !== undefined) return { rate: this.link, source: 'uploader' };
    const measured = this.meter.rate(now);
    if (measured === undefined) return { rate: this.memory.get(), source: 'last' };
    this.memory.set(measured);
    return { rate: measured, source: 'drain' };
  }

  /** How the object beginning now is coded, with `backlogBytes` waiting to ship. */
  choose(backlogBytes: number): ObjectCoding {
    if (this.mode !== 'auto') return this.mode;
    const now = this.clock();
    if (backlogBytes === 0) this.idle(now);
    const link = this.linkRate(now);
    const linkBytesPerSecond = link.rate;
    const codecBytesPerSecond = this.codecRate();
    const ratios = this.ratios();
    const view: UplinkView = {
      backlogBytes,
      linkBytesPerSecond,
      codecBytesPerSecond,
      imageRatio: ratios.image,
      zstdRatio: ratios.zstd,
      now,
    };
    const next = nextAutoCompression(this.auto, view);
    const changed = next.coding !== this.auto.coding;
    this.auto = next;
    if (changed && next.coding === 'image') this.onImageCoding();
    if (changed)
      this.log.info(
        {
          event: 'spool.compression_changed',
          coding: next.coding,
          compress: next.coding !== 'none',
          reason: next.reason,
          backlogBytes,
          linkBytesPerSecond: rounded(linkBytesPerSecond),
          linkSource: link.source,
          drainBytesPerSecond: rounded(this.meter.rate(now)),
          codecBytesPerSecond: rounded(codecBytesPerSecond),
          imageRatio: ratios.image,
          zstdRatio: ratios.zstd,
          // Predicted milliseconds per raw MB of a study under each coding, as the rule weighed them.
          ...(linkBytesPerSecond === undefined
            ? {}
            : { msPerMB: msPerMB(predictedTimes(view, linkBytesPerSecond)) }),
        },
        next.coding === 'image'
          ? 'coding pixel data of new objects: studies are predicted to be retrievable sooner'
          : next.coding === 'zstd'
            ? 'compressing new objects: the uplink is the bottleneck'
            : 'new objects go uncompressed',
      );
    return next.coding;
  }

  status(): CompressionStatus {
    const now = this.clock();
    const base = {
      drainBytesPerSecond: this.meter.rate(now),
      linkBytesPerSecond: this.link,
      lastDrainBytesPerSecond: this.memory.get(),
      codecBytesPerSecond: this.codecRate(),
    };
    if (this.mode !== 'auto')
      return {
        mode: this.mode,
        coding: this.mode,
        compressing: this.mode !== 'none',
        reason: 'forced',
        ...base,
      };
    const coding = this.auto.coding;
    return { mode: 'auto', coding, compressing: coding !== 'none', reason: this.auto.reason, ...base };
  }

  /** Waits for the last uplink rate to be saved (the spool's close). */
  flushed(): Promise<void> {
    return this.memory.flushed();
  }
}

const rounded = (n: number | undefined) => (n === undefined ? undefined : Math.round(n));

const msPerMB = (t: PredictedTimes) => ({
  image: +(t.image * 1e9).toFixed(1),
  zstd: +(t.zstd * 1e9).toFixed(1),
  none: +(t.none * 1e9).toFixed(1),
});
