import type { BandwidthWindow, Receipt, UploadOfferObject, UploadOfferResult } from '@ferry/shared';
import { FerryError, isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { IndexEntry, Retention, SpoolConsumer } from '../spool/consumer.js';
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { Completer } from './completer.js';
import { offerOf } from './offer.js';
import { bandwidthCapAt, SCHEDULE_CHECK_MS } from './schedule.js';
import { Semaphore } from './semaphore.js';
import { sendParts, type UploadTarget } from './send-object.js';
import { TokenBucket } from './throttle.js';
import type { UploadApi } from './upload-client.js';
import type { UploaderStats } from './uploader-stats.js';
import { verdictOf } from './verdict.js';
import { WorkQueue } from './work-queue.js';

/** The `upload` section of agent.json. */
export interface UploaderConfig {
  /** Objects above SMALL_OBJECT_BYTES uploaded at once; small ones get four times as many slots. */
  parallelism: number;
  /** Shared cap on part bytes per second; 0 = unlimited. */
  bandwidthBytesPerSecond: number;
  /** Hours a delivered object's local file is kept; 0 = deleted right after its receipt. */
  retentionHours: number;
  /** Windows in local time with their own cap (e.g. business hours); the first covering one wins. */
  schedule?: readonly BandwidthWindow[];
}

export interface UploaderDeps {
  spool: SpoolConsumer;
  api: UploadApi;
  log: Logger;
  config: UploaderConfig;
  /** Called once the control plane said `reenroll` (the uploader has stopped by then). */
  onReenroll?: () => Promise<void>;
  backoff?: BackoffPolicy;
  /** Backstop rescan of the spool, in case a wake-up was missed. */
  pollMs?: number;
}

/** Objects offered per call, at most (the contract allows 500). */
const MAX_BATCH_OBJECTS = 200;
/** Sealed bytes offered per call, at most (at least one object): URLs must not expire unused. */
const MAX_BATCH_BYTES = 64 << 20;
/** Up to this size an object is one small PUT: batched and run many at a time. */
const SMALL_OBJECT_BYTES = 1 << 20;
/** Refused part PUTs before an object is quarantined: one can be an expired URL or a flaky proxy. */
const PUT_STRIKES = 3;
const PROGRESS_LOG_MS = 60_000;

export type UploaderState = 'idle' | 'running' | 'stopping' | 'stopped' | 'reenroll-required';

/**
 * Ships spooled objects to the control plane, oldest first: offers them in batches, PUTs the parts
 * the control plane does not hold yet (hashing the whole sealed object on the way), completes them
 * in batches, and records the receipts in the spool log. It reads sealed objects and appends only
 * state records, so receiving never waits on it. Resumes from whatever parts the control plane
 * already holds after any restart.
 */
export class Uploader {
  private readonly spool: SpoolConsumer;
  private readonly log: Logger;
  private readonly api: UploadApi;
  private bucket: TokenBucket | undefined;
  private config: UploaderConfig;
  private scheduleTimer: NodeJS.Timeout | undefined;
  private readonly small: Semaphore;
  private readonly large: Semaphore;
  private readonly completer: Completer;
  private readonly retention: Retention;
  private readonly backoff: BackoffPolicy;
  private readonly pollMs: number;
  private maxBatches: number;
  private queue: WorkQueue;

  private status: UploaderState = 'idle';
  private abort = new AbortController();
  private batches = 0;
  private readonly inflight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private poke: (() => void) | undefined;
  private pausedUntil = 0;
  private outageAttempt = 0;
  /** When the current outage was noticed: offers already out then fail with it, as one outage. */
  private outageNoticedAt = Number.NEGATIVE_INFINITY;
  private unsubscribe: (() => void) | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private readonly counts = { delivered: 0, bytes: 0, quarantined: 0, retried: 0 };
  /** Since construction, for health (counts above are reset by each progress line). */
  private readonly totals = { bytes: 0, delivered: 0, errors: 0 };
  private lastError: { code: string; at: Date } | undefined;
  private lastDeliveredAt: Date | undefined;

  constructor(private readonly deps: UploaderDeps) {
    this.spool = deps.spool;
    this.log = deps.log;
    this.api = deps.api;
    this.config = deps.config;
    const { parallelism, retentionHours } = deps.config;
    this.applyCap(false);
    this.large = new Semaphore(parallelism);
    this.small = new Semaphore(Math.min(64, parallelism * 4));
    this.maxBatches = Math.max(2, parallelism);
    this.completer = new Completer(deps.api, () => this.abort.signal);
    this.retention = deps.spool.retention({
      retentionMs: retentionHours * 3_600_000,
      log: deps.log,
    });
    this.backoff = deps.backoff ?? DEFAULT_BACKOFF;
    this.pollMs = deps.pollMs ?? 5000;
    this.queue = this.newQueue();
  }

  get state(): UploaderState {
    return this.status;
  }

  /** Starts shipping; new spool entries wake it, and it rescans the spool every few seconds anyway. */
  start(): void {
    if (this.status !== 'idle' && this.status !== 'stopped') return;
    this.status = 'running';
    this.stopping = undefined;
    this.abort = new AbortController();
    this.queue = this.newQueue();
    this.unsubscribe = this.spool.onStored((entry) => {
      this.queue.add(entry);
      this.wake();
    });
    this.queue.addAll(this.spool.pending());
    this.retention.start();
    this.progressTimer = setInterval(() => this.logProgress(), PROGRESS_LOG_MS);
    this.progressTimer.unref();
    this.scheduleTimer = setInterval(() => this.applyCap(true), SCHEDULE_CHECK_MS);
    this.scheduleTimer.unref();
    this.loop = this.run();
    const { parallelism, bandwidthBytesPerSecond, retentionHours } = this.config;
    this.log.info(
      {
        event: 'upload.started',
        pending: this.queue.counts.ready,
        parallelism,
        bandwidthBytesPerSecond,
        retentionHours,
      },
      'uploader started',
    );
  }

  /**
   * Stops taking new work, lets part PUTs in flight finish for up to `graceMs`, then abandons the
   * rest (the control plane keeps the parts it has; the next start resumes from them).
   */
  stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.status !== 'running' && this.status !== 'reenroll-required')
      return this.stopping ?? Promise.resolve();
    this.stopping ??= this.halt(opts.graceMs ?? 5000);
    return this.stopping;
  }

  /**
   * Applies new settings live: lanes resize (uploads in flight finish), the shared cap changes for
   * the parts being sent too, and retention counts from each object's delivery as before.
   */
  updateConfig(config: UploaderConfig): void {
    this.config = config;
    this.large.setLimit(config.parallelism);
    this.small.setLimit(Math.min(64, config.parallelism * 4));
    this.maxBatches = Math.max(2, config.parallelism);
    this.retention.setRetentionMs(config.retentionHours * 3_600_000);
    this.applyCap(false);
    this.wake();
    this.log.info(
      {
        event: 'upload.config_changed',
        parallelism: config.parallelism,
        bandwidthBytesPerSecond: config.bandwidthBytesPerSecond,
        scheduleWindows: config.schedule?.length ?? 0,
        retentionHours: config.retentionHours,
        capBytesPerSecond: this.bucket?.bytesPerSecond ?? 0,
      },
      'upload settings changed',
    );
  }

  /** The settings in force (as last given; the schedule decides the cap in force). */
  get settings(): UploaderConfig {
    return this.config;
  }

  /** The upload cap in force now (0 = unlimited). */
  get currentCap(): number {
    return this.bucket?.bytesPerSecond ?? 0;
  }

  stats(): UploaderStats {
    return {
      bytesSentTotal: this.totals.bytes,
      objectsDeliveredTotal: this.totals.delivered,
      errorsTotal: this.totals.errors,
      lastError: this.lastError,
      lastDeliveredAt: this.lastDeliveredAt,
    };
  }

  /** Sets the bucket to the cap the schedule puts in force now. */
  private applyCap(logChange: boolean): void {
    const cap = bandwidthCapAt(new Date(), this.config.bandwidthBytesPerSecond, this.config.schedule ?? []);
    const before = this.bucket?.bytesPerSecond ?? 0;
    if (cap === before) return;
    // Parts being sent hold the bucket they started with: a rate change reaches them too.
    if (cap === 0) {
      // Parts in flight stop waiting at once; new parts go unmetered.
      this.bucket?.setRate(Number.MAX_SAFE_INTEGER);
      this.bucket = undefined;
    } else if (this.bucket) this.bucket.setRate(cap);
    else this.bucket = new TokenBucket(cap);
    if (logChange)
      this.log.info(
        { event: 'upload.cap_changed', fromBytesPerSecond: before, toBytesPerSecond: cap },
        'upload bandwidth cap changed by the schedule',
      );
  }

  private noteError(err: unknown): void {
    this.noteCode(isFerryError(err) ? err.code : 'internal.unexpected');
  }

  private noteCode(code: string): void {
    this.totals.errors++;
    this.lastError = { code, at: new Date() };
  }

  /** Runs one retention sweep now (tests, and right before a status report). */
  sweepRetention(): Promise<void> {
    return this.retention.sweep();
  }

  private newQueue(): WorkQueue {
    return new WorkQueue({
      isPending: (e) => this.spool.isPending(e),
      lookup: (id) => this.spool.entry(id),
      onReady: () => this.wake(),
    });
  }

  private async halt(graceMs: number): Promise<void> {
    if (this.status === 'running') this.status = 'stopping';
    this.unsubscribe?.();
    this.queue.stop();
    clearInterval(this.progressTimer);
    clearInterval(this.scheduleTimer);
    this.wake();
    const all = Promise.allSettled([...this.inflight]);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    this.abort.abort(new FerryError('internal.unexpected', 'the uploader is stopping'));
    await all;
    await this.loop;
    await this.retention.stop();
    if (this.status === 'stopping') this.status = 'stopped';
    this.logProgress();
    this.log.info({ event: 'upload.stopped' }, 'uploader stopped');
  }

  private get running(): boolean {
    return this.status === 'running';
  }

  private wake(): void {
    const poke = this.poke;
    this.poke = undefined;
    poke?.();
  }

  /** Waits for a wake-up, or `ms`, or the backstop poll. */
  private idle(ms = this.pollMs): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.poke = undefined;
          resolve();
        },
        Math.min(ms, this.pollMs),
      );
      this.poke = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let lastScan = Date.now();
    while (this.running) {
      const now = Date.now();
      if (now - lastScan >= this.pollMs) {
        // The backstop: anything a missed wake-up left behind.
        this.queue.addAll(this.spool.pending());
        lastScan = now;
      }
      if (this.pausedUntil > now) {
        await this.idle(this.pausedUntil - now);
        continue;
      }
      if (this.batches >= this.maxBatches || !this.queue.hasReady) {
        await this.idle();
        continue;
      }
      const batch = this.queue.take(MAX_BATCH_OBJECTS, MAX_BATCH_BYTES);
      if (batch.length === 0) continue;
      this.batches++;
      const work = this.runBatch(batch)
        .catch((err: unknown) => {
          this.log.error({ event: 'upload.unexpected', err }, 'unexpected uploader failure');
          for (const e of batch) if (this.queue.isBusy(e.id)) this.retryLater(e, err);
        })
        .finally(() => {
          this.batches--;
          this.inflight.delete(work);
          this.wake();
        });
      this.inflight.add(work);
    }
  }

  private async runBatch(batch: IndexEntry[]): Promise<void> {
    const offers: UploadOfferObject[] = [];
    const byId = new Map<string, IndexEntry>();
    for (const e of batch) {
      const offer = offerOf(e);
      if (offer instanceof FerryError) await this.quarantine(e, offer.code, offer.message);
      else {
        offers.push(offer);
        byId.set(e.id, e);
      }
    }
    if (offers.length === 0) return;
    let results: Map<string, UploadOfferResult>;
    const offeredAt = Date.now();
    try {
      results = await this.offer(offers, byId);
    } catch (err) {
      this.outage(err, [...byId.values()], offeredAt);
      return;
    }
    this.outageAttempt = 0;
    const work: Promise<void>[] = [];
    for (const e of byId.values()) {
      if (!this.queue.isBusy(e.id)) continue;
      const r = results.get(e.id);
      if (!r) this.retryLater(e, new FerryError('control.bad_response', 'the offer had no answer for it'));
      else if (r.status === 'stored') work.push(this.deliver(e, r.receipt));
      else if (r.status === 'refused') work.push(this.quarantine(e, r.code, r.message));
      else work.push(this.send(e, r));
    }
    await Promise.all(work);
  }

  /**
   * Offers a batch. A batch the control plane refuses as a whole is split until the object at fault
   * is alone, and that one is quarantined; a transient failure of the call is thrown.
   */
  private async offer(
    offers: UploadOfferObject[],
    byId: Map<string, IndexEntry>,
  ): Promise<Map<string, UploadOfferResult>> {
    const out = new Map<string, UploadOfferResult>();
    try {
      for (const r of await this.api.offer(offers, this.abort.signal))
        if (!out.has(r.objectId)) out.set(r.objectId, r);
      return out;
    } catch (err) {
      if (verdictOf(err) !== 'permanent') throw err;
      if (offers.length === 1) {
        const e = byId.get(offers[0]!.objectId)!;
        const fe = isFerryError(err) ? err : undefined;
        await this.quarantine(e, fe?.code ?? 'request.invalid', fe?.message ?? String(err));
        return out;
      }
      const half = Math.ceil(offers.length / 2);
      for (const part of [offers.slice(0, half), offers.slice(half)])
        for (const [id, r] of await this.offer(part, byId)) out.set(id, r);
      return out;
    }
  }

  /**
   * The control plane could not be asked at all: the whole batch waits, and so does the next one.
   * Offers that were out together when it went away fail together: that is one step of the backoff,
   * not one per batch (a dead link under eight batches would otherwise wait as if it failed 8 times).
   */
  private outage(err: unknown, batch: IndexEntry[], offeredAt: number): void {
    if (verdictOf(err) === 'reenroll' || this.abort.signal.aborted) {
      for (const e of batch) this.queue.release(e.id);
      if (!this.abort.signal.aborted) this.reenroll(err);
      return;
    }
    const now = Date.now();
    if (offeredAt > this.outageNoticedAt) {
      this.outageNoticedAt = now;
      this.pausedUntil = now + backoffDelay(this.outageAttempt++, this.backoff);
    }
    const delayMs = Math.max(0, this.pausedUntil - now);
    this.noteError(err);
    for (const e of batch) this.queue.requeue(e);
    const fe = isFerryError(err) ? err : undefined;
    this.log.warn(
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

  /** Sends the parts not held yet (in its lane), then asks for the receipt. */
  private async send(e: IndexEntry, target: UploadTarget): Promise<void> {
    const lane = e.objectBytes <= SMALL_OBJECT_BYTES ? this.small : this.large;
    let release: () => void;
    try {
      release = await lane.acquire(this.abort.signal);
    } catch (err) {
      return this.failed(e, err, false);
    }
    let sent: Awaited<ReturnType<typeof sendParts>>;
    try {
      // 'uploading' marks an object that may be partly in the cloud; a one-PUT object never is.
      if (target.parts.length > 1 && e.state === 'spooled') await this.spool.mark(e.id, 'uploading');
      sent = await sendParts({
        spool: this.spool,
        api: this.api,
        bucket: this.bucket,
        entry: e,
        target,
        signal: this.abort.signal,
      });
    } catch (err) {
      sent = { ok: false, error: err, putRefused: false, sentBytes: 0 };
    } finally {
      release();
    }
    this.counts.bytes += sent.sentBytes;
    this.totals.bytes += sent.sentBytes;
    if (!sent.ok) return this.failed(e, sent.error, sent.putRefused);
    try {
      const r = await this.completer.complete(
        { objectId: e.id, uploadId: target.uploadId, objectSha256: sent.objectSha256 },
        e.objectBytes,
      );
      if (r.status === 'stored') await this.deliver(e, r.receipt, sent.objectSha256);
      else if (r.status === 'refused') await this.quarantine(e, r.code, r.message);
      else this.retryLater(e, new FerryError('upload.incomplete', `${r.code}: ${r.message}`));
    } catch (err) {
      await this.failed(e, err, false);
    }
  }

  private async failed(e: IndexEntry, err: unknown, putRefused: boolean): Promise<void> {
    if (this.abort.signal.aborted) {
      // Stopping: the parts that made it stay in the cloud, the rest goes on the next start.
      this.queue.release(e.id);
      return;
    }
    const verdict = verdictOf(err);
    const fe = isFerryError(err) ? err : undefined;
    if (verdict === 'reenroll') {
      this.queue.release(e.id);
      this.reenroll(err);
    } else if (fe?.details?.expired === true) {
      this.retryLater(e, err, { now: true });
    } else if (
      verdict === 'permanent' &&
      putRefused &&
      this.queue.attemptsOf(e.id).strikes++ < PUT_STRIKES - 1
    ) {
      // A refused PUT is often an expired or mangled URL: fresh ones come with the next offer.
      this.retryLater(e, err);
    } else if (verdict === 'permanent') {
      await this.quarantine(e, fe?.code ?? 'internal.unexpected', fe?.message ?? String(err));
    } else {
      this.retryLater(e, err);
    }
  }

  private retryLater(e: IndexEntry, err: unknown, opts: { now?: boolean } = {}): void {
    const a = this.queue.attemptsOf(e.id);
    const delayMs = opts.now ? 0 : backoffDelay(a.attempt++, this.backoff);
    this.queue.retryAfter(e.id, delayMs);
    this.counts.retried++;
    this.noteError(err);
    const fe = isFerryError(err) ? err : undefined;
    this.log.warn(
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

  /** Records a receipt, once it is checked to be for this very object. */
  private async deliver(e: IndexEntry, receipt: Receipt, objectSha256?: string): Promise<void> {
    if (
      receipt.objectId !== e.id ||
      receipt.sha256 !== e.sha256 ||
      (objectSha256 !== undefined && receipt.objectSha256 !== objectSha256)
    ) {
      await this.quarantine(
        e,
        'control.bad_response',
        'the receipt does not match this object (object id, content hash or sealed hash)',
      );
      return;
    }
    try {
      await this.spool.mark(e.id, 'delivered');
    } catch (err) {
      // Stored in the cloud but not recorded here: the next offer answers `stored` again.
      this.log.error({ event: 'upload.record_failed', objectId: e.id, err }, 'could not record a receipt');
      this.retryLater(e, err);
      return;
    }
    this.queue.settle(e.id);
    this.counts.delivered++;
    this.totals.delivered++;
    this.lastDeliveredAt = new Date();
    this.retention.delivered(e);
    this.log.debug({ event: 'upload.delivered', objectId: e.id, duplicate: receipt.duplicate }, 'delivered');
  }

  private async quarantine(e: IndexEntry, code: string, reason: string): Promise<void> {
    try {
      await this.spool.mark(e.id, 'quarantined');
    } catch (err) {
      this.log.error({ event: 'upload.record_failed', objectId: e.id, err }, 'could not quarantine');
      this.retryLater(e, err);
      return;
    }
    this.queue.settle(e.id);
    this.counts.quarantined++;
    this.noteCode(code);
    this.log.warn(
      { event: 'upload.quarantined', objectId: e.id, code, reason },
      'upload refused for good; object quarantined',
    );
  }

  private reenroll(err: unknown): void {
    if (this.status === 'reenroll-required') return;
    this.status = 'reenroll-required';
    const fe = isFerryError(err) ? err : undefined;
    this.log.error(
      { event: 'upload.reenroll_required', code: fe?.code, reason: fe?.message },
      'the control plane no longer knows this gateway: uploads stopped; enroll it again with `ferry-agent enroll`',
    );
    // Not awaited: this runs inside a batch that stop() waits for.
    void this.stop({ graceMs: 0 }).then(() => this.deps.onReenroll?.());
  }

  private logProgress(): void {
    const c = this.counts;
    if (c.delivered + c.quarantined + c.retried === 0) return;
    const q = this.queue.counts;
    this.log.info(
      { event: 'upload.progress', ...c, pending: q.ready + q.busy + q.waiting, backingOff: q.waiting },
      'upload progress',
    );
    this.counts.delivered = 0;
    this.counts.bytes = 0;
    this.counts.quarantined = 0;
    this.counts.retried = 0;
  }
}
