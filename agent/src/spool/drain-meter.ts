/** Deliveries older than this no longer count towards the rate. */
export const DRAIN_WINDOW_MS = 20_000;
/** A rate measured over less time than this is noise (one receipt batch). */
export const MIN_SPAN_MS = 1_000;

/**
 * The uplink's drain rate as the spool sees it: bytes marked delivered per second, over the current
 * busy period (the backlog was never empty since it began) and at most the last DRAIN_WINDOW_MS.
 *
 * The first delivery of a busy period only starts the clock: the time before it is the pipeline's
 * latency (upload, verify, receipt), not its rate. An idle uplink is not a slow one, so the spool
 * calls idle() whenever its backlog is empty, and measuring starts afresh with the next delivery.
 * Once measured, a stall shows as a falling rate (the span grows, the bytes do not).
 */
export class DrainMeter {
  private startedAt: number | undefined;
  private readonly events: { at: number; bytes: number }[] = [];
  private head = 0;
  private windowBytes = 0;

  delivered(bytes: number, now: number): void {
    if (this.startedAt === undefined) {
      this.startedAt = now;
      return;
    }
    this.events.push({ at: now, bytes });
    this.windowBytes += bytes;
  }

  idle(): void {
    this.startedAt = undefined;
    this.events.length = 0;
    this.head = 0;
    this.windowBytes = 0;
  }

  /** Bytes per second, or undefined before a busy period has been measured for MIN_SPAN_MS. */
  rate(now: number): number | undefined {
    if (this.startedAt === undefined) return undefined;
    const windowStart = now - DRAIN_WINDOW_MS;
    while (this.head < this.events.length && this.events[this.head]!.at < windowStart) {
      this.windowBytes -= this.events[this.head]!.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events.splice(0, this.head);
      this.head = 0;
    }
    const span = now - Math.max(this.startedAt, windowStart);
    if (span < MIN_SPAN_MS) return undefined;
    return (this.windowBytes * 1000) / span;
  }
}
