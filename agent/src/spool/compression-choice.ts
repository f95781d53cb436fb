import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  type AutoCompression,
  type CompressionMode,
  type CompressionReason,
  INITIAL_AUTO,
  nextAutoCompression,
  type ObjectCoding,
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
  /** Measured in the current busy period; undefined while idle or not yet measured. */
  drainBytesPerSecond: number | undefined;
  /** The last rate measured, kept across idle periods; what `auto` uses while the meter knows none. */
  lastDrainBytesPerSecond: number | undefined;
  /** The image codec's raw bytes per second as last reported; undefined: not measured yet. */
  codecBytesPerSecond: number | undefined;
}

export interface CompressionChoiceOptions {
  /** The image codec's measured raw throughput (the worker pool's); undefined until it has one. */
  codecBytesPerSecond?: () => number | undefined;
  /** The last uplink rate, kept across idle periods and restarts (unset: in memory only). */
  memory?: UplinkMemory;
  /** Milliseconds, monotonic; tests drive it. */
  clock?: () => number;
}

/**
 * The spool's per-object coding choice: the mode, and in `auto` the policy fed with the spool's
 * backlog, the drain rate it measures from its own delivered marks (or the last one it measured)
 * and the codec's rate. Changes are logged.
 */
export class CompressionChoice {
  private auto: AutoCompression = INITIAL_AUTO;
  private readonly meter = new DrainMeter();
  private readonly memory: UplinkMemory;
  private readonly clock: () => number;
  private readonly codecRate: () => number | undefined;

  constructor(
    private mode: CompressionMode,
    private readonly log: Logger,
    opts: CompressionChoiceOptions = {},
  ) {
    this.memory = opts.memory ?? UplinkMemory.inMemory();
    this.clock = opts.clock ?? (() => performance.now());
    this.codecRate = opts.codecBytesPerSecond ?? (() => undefined);
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
    if (rate !== undefined) {
      this.memory.set(rate);
      this.memory.save(now);
    }
    this.meter.idle();
  }

  /** The link rate `auto` goes by: measured now, or else the last one measured. */
  private linkRate(now: number): number | undefined {
    const measured = this.meter.rate(now);
    if (measured !== undefined) this.memory.set(measured);
    return measured ?? this.memory.get();
  }

  /** How the object beginning now is coded, with `backlogBytes` waiting to ship. */
  choose(backlogBytes: number): ObjectCoding {
    if (this.mode !== 'auto') return this.mode;
    const now = this.clock();
    if (backlogBytes === 0) this.idle(now);
    const drainBytesPerSecond = this.linkRate(now);
    const codecBytesPerSecond = this.codecRate();
    const next = nextAutoCompression(this.auto, {
      backlogBytes,
      drainBytesPerSecond,
      codecBytesPerSecond,
      now,
    });
    const changed = next.coding !== this.auto.coding;
    this.auto = next;
    if (changed)
      this.log.info(
        {
          event: 'spool.compression_changed',
          coding: next.coding,
          compress: next.coding !== 'none',
          reason: next.reason,
          backlogBytes,
          drainBytesPerSecond: rounded(drainBytesPerSecond),
          codecBytesPerSecond: rounded(codecBytesPerSecond),
        },
        next.coding === 'image'
          ? 'coding pixel data of new objects: the uplink is slower than the image codec'
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
