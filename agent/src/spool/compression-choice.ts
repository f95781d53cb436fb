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

/** The compression choice as spool stats show it. */
export interface CompressionStatus {
  mode: CompressionMode;
  /** Whether objects begun now would be compressed (when their transfer syntax allows). */
  compressing: boolean;
  reason: CompressionReason;
  drainBytesPerSecond: number | undefined;
}

/**
 * The spool's per-object compression choice: the mode, and in `auto` the policy fed with the
 * spool's backlog and the drain rate it measures from its own delivered marks. Changes are logged.
 */
export class CompressionChoice {
  private auto: AutoCompression = INITIAL_AUTO;
  private readonly meter = new DrainMeter();

  constructor(
    private readonly mode: CompressionMode,
    private readonly log: Logger,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** An object of `bytes` sealed bytes was marked delivered; `backlogBytes` is what is left. */
  delivered(bytes: number, backlogBytes: number): void {
    if (backlogBytes === 0) this.meter.idle();
    else this.meter.delivered(bytes, this.clock());
  }

  /** How the object beginning now is coded, with `backlogBytes` waiting to ship. */
  choose(backlogBytes: number): ObjectCoding {
    if (this.mode !== 'auto') return this.mode;
    if (backlogBytes === 0) this.meter.idle();
    const now = this.clock();
    const drainBytesPerSecond = this.meter.rate(now);
    const next = nextAutoCompression(this.auto, { backlogBytes, drainBytesPerSecond, now });
    if (next !== this.auto) {
      this.auto = next;
      this.log.info(
        {
          event: 'spool.compression_changed',
          compress: next.compress,
          reason: next.reason,
          backlogBytes,
          drainBytesPerSecond:
            drainBytesPerSecond === undefined ? undefined : Math.round(drainBytesPerSecond),
        },
        next.compress
          ? 'compressing new objects: the uplink is the bottleneck'
          : 'new objects go uncompressed',
      );
    }
    return next.compress ? 'zstd' : 'none';
  }

  status(): CompressionStatus {
    const drainBytesPerSecond = this.meter.rate(this.clock());
    if (this.mode !== 'auto')
      return { mode: this.mode, compressing: this.mode !== 'none', reason: 'forced', drainBytesPerSecond };
    return { mode: 'auto', compressing: this.auto.compress, reason: this.auto.reason, drainBytesPerSecond };
  }
}
