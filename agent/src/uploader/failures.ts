import { isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { IndexEntry, SpoolConsumer } from '../spool/consumer.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import type { UploadTally } from './uploader-stats.js';
import { verdictOf } from './verdict.js';
import type { WorkQueue } from './work-queue.js';

/** Refused part PUTs before an object is quarantined: one can be an expired URL or a flaky proxy. */
const PUT_STRIKES = 3;

export interface FailuresDeps {
  spool: Pick<SpoolConsumer, 'mark'>;
  /** The queue of the current run (each start has its own). */
  queue: () => WorkQueue;
  tally: UploadTally;
  log: Logger;
  backoff: BackoffPolicy;
  /** Aborted once the uploader is stopping: nothing is held against an object then. */
  signal: () => AbortSignal;
  /** The control plane no longer knows this gateway. */
  reenroll: (err: unknown) => void;
}

/**
 * What a failure means: an object backs off and is tried again, is quarantined for good, or is let
 * go for the next start; a control plane that cannot be asked at all pauses every offer.
 */
export class Failures {
  /** No offer goes out before this (an outage's backoff). */
  pausedUntil = 0;
  private outageAttempt = 0;
  /** When the current outage was noticed: offers already out then fail with it, as one outage. */
  private outageNoticedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: FailuresDeps) {}

  /** An object's step failed; `putRefused`: a part PUT's answer, not the spool or the network. */
  async failed(e: IndexEntry, err: unknown, putRefused: boolean): Promise<void> {
    const queue = this.deps.queue();
    if (this.deps.signal().aborted) {
      // Stopping: the parts that made it stay in the cloud, the rest goes on the next start.
      queue.release(e.id);
      return;
    }
    const verdict = verdictOf(err);
    const fe = isFerryError(err) ? err : undefined;
    if (verdict === 'reenroll') {
      queue.release(e.id);
      this.deps.reenroll(err);
    } else if (fe?.details?.expired === true) {
      this.retryLater(e, err, { now: true });
    } else if (verdict === 'permanent' && putRefused && queue.attemptsOf(e.id).strikes++ < PUT_STRIKES - 1) {
      // A refused PUT is often an expired or mangled URL: fresh ones come with the next offer.
      this.retryLater(e, err);
    } else if (verdict === 'permanent') {
      await this.quarantine(e, fe?.code ?? 'internal.unexpected', fe?.message ?? String(err));
    } else {
      this.retryLater(e, err);
    }
  }

  retryLater(e: IndexEntry, err: unknown, opts: { now?: boolean } = {}): void {
    const queue = this.deps.queue();
    const a = queue.attemptsOf(e.id);
    const delayMs = opts.now ? 0 : backoffDelay(a.attempt++, this.deps.backoff);
    queue.retryAfter(e.id, delayMs);
    this.deps.tally.retried(err);
    const fe = isFerryError(err) ? err : undefined;
    this.deps.log.warn(
      {
        event: 'upload.retry',
        objectId: e.id,
        code: fe?.code ?? 'internal.unexpected',
        reason: fe?.message ?? String(err),
        attempt: a.attempt,
        delayMs,
      },
      'upload failed; will retry',
    );
  }

  /** Refused for good: the object stays in the spool, marked, and is not offered again. */
  async quarantine(e: IndexEntry, code: string, reason: string): Promise<void> {
    try {
      await this.deps.spool.mark(e.id, 'quarantined');
    } catch (err) {
      this.deps.log.error({ event: 'upload.record_failed', objectId: e.id, err }, 'could not quarantine');
      this.retryLater(e, err);
      return;
    }
    this.deps.queue().settle(e.id);
    this.deps.tally.quarantined(code);
    this.deps.log.warn(
      { event: 'upload.quarantined', objectId: e.id, code, reason },
      'upload refused for good; object quarantined',
    );
  }

  /** An offer got an answer: the next outage starts its backoff from the first step. */
  reached(): void {
    this.outageAttempt = 0;
  }

  /**
   * The control plane could not be asked at all: the whole batch waits, and so does the next one.
   * Offers that were out together when it went away fail together: that is one step of the backoff,
   * not one per batch (a dead link under eight batches would otherwise wait as if it failed 8 times).
   */
  outage(err: unknown, batch: IndexEntry[], offeredAt: number): void {
    const queue = this.deps.queue();
    const aborted = this.deps.signal().aborted;
    if (verdictOf(err) === 'reenroll' || aborted) {
      for (const e of batch) queue.release(e.id);
      if (!aborted) this.deps.reenroll(err);
      return;
    }
    const now = Date.now();
    if (offeredAt > this.outageNoticedAt) {
      this.outageNoticedAt = now;
      this.pausedUntil = now + backoffDelay(this.outageAttempt++, this.deps.backoff);
    }
    const delayMs = Math.max(0, this.pausedUntil - now);
    this.deps.tally.error(err);
    for (const e of batch) queue.requeue(e);
    const fe = isFerryError(err) ? err : undefined;
    this.deps.log.warn(
      {
        event: 'upload.offer_failed',
        code: fe?.code ?? 'internal.unexpected',
        reason: fe?.message ?? String(err),
        attempt: this.outageAttempt,
        delayMs,
      },
      'could not offer uploads; backing off',
    );
  }
}
