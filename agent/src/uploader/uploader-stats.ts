import { isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';

/** Monotonic counters the uploader exposes for health. */
export interface UploaderStats {
  bytesSentTotal: number;
  objectsDeliveredTotal: number;
  errorsTotal: number;
  lastError: { code: string; at: Date } | undefined;
  /** When an object was last delivered (for upload.stalled). */
  lastDeliveredAt: Date | undefined;
  /** Receipt time minus receive time, summed over every delivered object (ms). */
  deliveryLatencyMsTotal: number;
}

/**
 * What the uploader did: counts since the last progress line, and totals since construction for
 * health (a progress line resets the counts, never the totals).
 */
export class UploadTally {
  private readonly counts = { delivered: 0, bytes: 0, quarantined: 0, retried: 0 };
  private readonly totals = { bytes: 0, delivered: 0, errors: 0, latencyMs: 0 };
  private lastError: { code: string; at: Date } | undefined;
  private lastDeliveredAt: Date | undefined;

  sent(bytes: number): void {
    this.counts.bytes += bytes;
    this.totals.bytes += bytes;
  }

  /** `receivedAt`: when the spool took the object (ISO), for the delivery latency. */
  delivered(receivedAt?: string): void {
    this.counts.delivered++;
    this.totals.delivered++;
    this.lastDeliveredAt = new Date();
    const received = receivedAt ? Date.parse(receivedAt) : Number.NaN;
    if (Number.isFinite(received))
      this.totals.latencyMs += Math.max(0, this.lastDeliveredAt.getTime() - received);
  }

  quarantined(code: string): void {
    this.counts.quarantined++;
    this.errorCode(code);
  }

  retried(err: unknown): void {
    this.counts.retried++;
    this.error(err);
  }

  error(err: unknown): void {
    this.errorCode(isFerryError(err) ? err.code : 'internal.unexpected');
  }

  private errorCode(code: string): void {
    this.totals.errors++;
    this.lastError = { code, at: new Date() };
  }

  stats(): UploaderStats {
    return {
      bytesSentTotal: this.totals.bytes,
      objectsDeliveredTotal: this.totals.delivered,
      errorsTotal: this.totals.errors,
      lastError: this.lastError,
      lastDeliveredAt: this.lastDeliveredAt,
      deliveryLatencyMsTotal: this.totals.latencyMs,
    };
  }

  /** Logs what happened since the last line, if anything did, and starts counting again. */
  logProgress(log: Logger, queue: () => { ready: number; busy: number; waiting: number }): void {
    const c = this.counts;
    if (c.delivered + c.quarantined + c.retried === 0) return;
    const q = queue();
    log.info(
      { event: 'upload.progress', ...c, pending: q.ready + q.busy + q.waiting, backingOff: q.waiting },
      'upload progress',
    );
    c.delivered = 0;
    c.bytes = 0;
    c.quarantined = 0;
    c.retried = 0;
  }
}
