import { performance } from 'node:perf_hooks';
import type { UploadApi } from './upload-client.js';

/**
 * PUTs smaller than this say little about the link: their time is mostly the round trip and the
 * server's answer. They are not timed at all, so they neither add bytes nor busy time.
 */
export const MIN_METERED_PUT_BYTES = 64 << 10;
/** The estimate covers about this much of the most recent busy time. */
export const LINK_WINDOW_BUSY_MS = 20_000;
/** No estimate until this many bytes were timed: one or two parts are not a rate yet. */
export const MIN_METERED_BYTES = 4 << 20;

interface Sample {
  busyMs: number;
  bytes: number;
}

/**
 * The uplink's capacity as the uploader uses it: bytes PUT (parts and packs) per millisecond during
 * which at least one PUT was in flight. PUTs run in parallel, so their busy intervals are merged
 * (timed as a union, not summed per PUT), and idle time between them does not count: a sender with
 * little to send, such as one held back by the image codec, does not make a fast link look slow.
 * The bandwidth cap throttles the PUTs themselves, so a capped link measures at its cap.
 *
 * Time is attributed as it passes: busy time accrues while any timed PUT is in flight and goes into
 * the sample of the next PUT that ends. A PUT that fails carries no bytes, so its time lowers the
 * estimate: a link that drops PUTs carries less.
 */
export class LinkMeter {
  private inFlight = 0;
  private lastAt = 0;
  /** Busy time since the last sample. */
  private pendingBusyMs = 0;
  private readonly samples: Sample[] = [];
  private head = 0;
  private windowBusyMs = 0;
  private windowBytes = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Times `put`, a PUT of `bytes`, when it is large enough to say something about the link. */
  async timed<T>(bytes: number, put: () => Promise<T>): Promise<T> {
    if (bytes < MIN_METERED_PUT_BYTES) return put();
    this.started(this.clock());
    let sent = 0;
    try {
      const result = await put();
      sent = bytes;
      return result;
    } finally {
      this.ended(sent, this.clock());
    }
  }

  /** A timed PUT began at `now` (monotonic ms). */
  started(now: number): void {
    this.advance(now);
    this.inFlight++;
  }

  /** A timed PUT ended at `now` having delivered `bytes` (0: it failed). */
  ended(bytes: number, now: number): void {
    this.advance(now);
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (bytes <= 0) return;
    this.samples.push({ busyMs: this.pendingBusyMs, bytes });
    this.windowBusyMs += this.pendingBusyMs;
    this.windowBytes += bytes;
    this.pendingBusyMs = 0;
    this.trim();
  }

  /** Bytes per second over the recent busy time; undefined until MIN_METERED_BYTES were timed. */
  bytesPerSecond(): number | undefined {
    if (this.windowBytes < MIN_METERED_BYTES || this.windowBusyMs <= 0) return undefined;
    return (this.windowBytes * 1000) / this.windowBusyMs;
  }

  private advance(now: number): void {
    if (this.inFlight > 0) this.pendingBusyMs += Math.max(0, now - this.lastAt);
    this.lastAt = now;
  }

  /** Drops the oldest samples while the rest still cover the window and are enough to measure. */
  private trim(): void {
    while (this.head < this.samples.length - 1) {
      const oldest = this.samples[this.head]!;
      const rest = { busyMs: this.windowBusyMs - oldest.busyMs, bytes: this.windowBytes - oldest.bytes };
      // A very slow link keeps enough bytes to measure, however long they took.
      if (rest.busyMs < LINK_WINDOW_BUSY_MS || rest.bytes < MIN_METERED_BYTES) break;
      this.windowBusyMs -= oldest.busyMs;
      this.windowBytes -= oldest.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.samples.length) {
      this.samples.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * `api`'s part and pack PUTs, timed by `meter`; after each timed one `noteRate` gets the estimate
 * (the spool's compression choice goes by it).
 */
export function meteredPuts(
  api: Pick<UploadApi, 'putPart'>,
  meter: LinkMeter,
  noteRate: (bytesPerSecond: number) => void,
): Pick<UploadApi, 'putPart'> {
  return {
    putPart: async (url, body, length, signal) => {
      try {
        await meter.timed(length, () => api.putPart(url, body, length, signal));
      } finally {
        const rate = length >= MIN_METERED_PUT_BYTES ? meter.bytesPerSecond() : undefined;
        if (rate !== undefined) noteRate(rate);
      }
    },
  };
}
