import type { BandwidthWindow, UploadOfferObject, UploadOfferResult, UploadPack } from '@ferry/shared';
import { FerryError, isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { IndexEntry, Retention, SpoolConsumer } from '../spool/consumer.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.js';
import { MAX_BATCH_BYTES, MAX_BATCH_OBJECTS, UploadCaps } from './caps.js';
import { Completer } from './completer.js';
import { Delivery } from './deliver.js';
import { Failures } from './failures.js';
import { LinkMeter, meteredPuts } from './link-meter.js';
import { offerInHalves, offerOf } from './offer.js';
import { type SendDeps, sendObject } from './send-object.js';
import { packMembers, sendPack } from './send-pack.js';
import type { UploadApi } from './upload-client.js';
import { type UploaderStats, UploadTally } from './uploader-stats.js';
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

const PROGRESS_LOG_MS = 60_000;

export type UploaderState = 'idle' | 'running' | 'stopping' | 'stopped' | 'reenroll-required';

/**
 * Ships spooled objects to the control plane, oldest first: offers them in batches, PUTs the parts
 * the control plane does not hold yet (hashing the whole sealed object on the way), completes them
 * in batches, and records the receipts in the spool. It reads sealed objects and records only
 * shipping states, so receiving never waits on it. Resumes from whatever parts the control plane
 * already holds after any restart.
 *
 * This is the loop; each step is its own module: offer.ts (what is offered, and a refused batch
 * split), send-object.ts (the parts, then the receipt), deliver.ts, failures.ts (backoff,
 * quarantine, outages), caps.ts (lanes, batches, the bandwidth cap) and uploader-stats.ts.
 */
export class Uploader {
  private readonly spool: SpoolConsumer;
  private readonly log: Logger;
  private config: UploaderConfig;
  private readonly caps: UploadCaps;
  private readonly retention: Retention;
  private readonly tally = new UploadTally();
  private readonly failures: Failures;
  private readonly send: SendDeps;
  private readonly pollMs: number;
  private queue: WorkQueue;
  /** The link's capacity as the PUTs find it, kept across idle periods and restarts of the loop. */
  private readonly link = new LinkMeter();

  private status: UploaderState = 'idle';
  private abort = new AbortController();
  private batches = 0;
  private readonly inflight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private poke: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: UploaderDeps) {
    this.spool = deps.spool;
    this.log = deps.log;
    this.config = deps.config;
    this.caps = new UploadCaps(deps.config, deps.log);
    this.retention = deps.spool.retention({
      retentionMs: deps.config.retentionHours * 3_600_000,
      log: deps.log,
    });
    this.pollMs = deps.pollMs ?? 5000;
    this.queue = this.newQueue();
    const signal = () => this.abort.signal;
    const queue = () => this.queue;
    this.failures = new Failures({
      spool: deps.spool,
      queue,
      tally: this.tally,
      log: deps.log,
      backoff: deps.backoff ?? DEFAULT_BACKOFF,
      signal,
      reenroll: (err) => this.reenroll(err),
    });
    const delivery = new Delivery({
      spool: deps.spool,
      queue,
      retention: this.retention,
      failures: this.failures,
      tally: this.tally,
      log: deps.log,
    });
    this.send = {
      spool: deps.spool,
      api: meteredPuts(deps.api, this.link, (rate) => deps.spool.noteUplinkRate(rate)),
      caps: this.caps,
      completer: new Completer(deps.api, signal),
      delivery,
      failures: this.failures,
      tally: this.tally,
      signal,
      track: (e, work) => this.track(e, work),
    };
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
    this.caps.followSchedule();
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
    this.caps.update(config);
    this.retention.setRetentionMs(config.retentionHours * 3_600_000);
    this.wake();
    this.log.info(
      {
        event: 'upload.config_changed',
        parallelism: config.parallelism,
        bandwidthBytesPerSecond: config.bandwidthBytesPerSecond,
        scheduleWindows: config.schedule?.length ?? 0,
        retentionHours: config.retentionHours,
        capBytesPerSecond: this.caps.bytesPerSecond,
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
    return this.caps.bytesPerSecond;
  }

  /** Bytes per second the link carried while PUTs were in flight; undefined until measured. */
  get linkBytesPerSecond(): number | undefined {
    return this.link.bytesPerSecond();
  }

  stats(): UploaderStats {
    return this.tally.stats();
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
    this.caps.stopFollowing();
    this.wake();
    const all = this.drained();
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

  /** Settles once nothing is in flight, the receipts batches left behind included. */
  private async drained(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** A receipt awaited after its batch was done with: stop() waits for it like for a batch. */
  private track(e: IndexEntry, work: Promise<void>): void {
    const held = work
      .catch((err: unknown) => {
        this.log.error({ event: 'upload.unexpected', err }, 'unexpected uploader failure');
        if (this.queue.isBusy(e.id)) this.failures.retryLater(e, err);
      })
      .finally(() => this.inflight.delete(held));
    this.inflight.add(held);
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
      if (this.failures.pausedUntil > now) {
        await this.idle(this.failures.pausedUntil - now);
        continue;
      }
      if (this.batches >= this.caps.maxBatches || !this.queue.hasReady) {
        await this.idle();
        continue;
      }
      const batch = this.queue.take(MAX_BATCH_OBJECTS, MAX_BATCH_BYTES);
      if (batch.length === 0) continue;
      this.batches++;
      const work = this.runBatch(batch)
        .catch((err: unknown) => {
          this.log.error({ event: 'upload.unexpected', err }, 'unexpected uploader failure');
          for (const e of batch) if (this.queue.isBusy(e.id)) this.failures.retryLater(e, err);
        })
        .finally(() => {
          this.batches--;
          this.inflight.delete(work);
          this.wake();
        });
      this.inflight.add(work);
    }
  }

  /** Offers one batch, then each object goes its way: delivered, quarantined, sent or retried. */
  private async runBatch(batch: IndexEntry[]): Promise<void> {
    const offers: UploadOfferObject[] = [];
    const byId = new Map<string, IndexEntry>();
    for (const e of batch) {
      const offer = offerOf(e);
      if (offer instanceof FerryError) await this.failures.quarantine(e, offer.code, offer.message);
      else {
        offers.push(offer);
        byId.set(e.id, e);
      }
    }
    if (offers.length === 0) return;
    let results: Map<string, UploadOfferResult>;
    const packs: UploadPack[] = [];
    const offeredAt = Date.now();
    try {
      results = await offerInHalves(
        this.deps.api,
        offers,
        this.abort.signal,
        (id, code, reason) => this.failures.quarantine(byId.get(id)!, code, reason),
        packs,
      );
    } catch (err) {
      this.failures.outage(err, [...byId.values()], offeredAt);
      return;
    }
    this.failures.reached();
    const work: Promise<void>[] = [];
    for (const e of byId.values()) {
      if (!this.queue.isBusy(e.id)) continue;
      const r = results.get(e.id);
      if (!r)
        this.failures.retryLater(e, new FerryError('control.bad_response', 'the offer had no answer for it'));
      else if (r.status === 'stored') work.push(this.send.delivery.deliver(e, r.receipt));
      else if (r.status === 'refused') work.push(this.failures.quarantine(e, r.code, r.message));
      else if (r.status === 'upload') work.push(sendObject(this.send, e, r));
    }
    work.push(...this.sendPacks(packs, results, byId));
    await Promise.all(work);
  }

  /** The packs of this offer; a member whose pack does not match its answer is offered again. */
  private sendPacks(
    packs: UploadPack[],
    results: Map<string, UploadOfferResult>,
    byId: Map<string, IndexEntry>,
  ): Promise<void>[] {
    const work: Promise<void>[] = [];
    const sent = new Set<string>();
    for (const pack of packs) {
      const members = packMembers(pack, (id) => {
        const r = results.get(id);
        const e = byId.get(id);
        return r?.status === 'packed' &&
          r.packId === pack.packId &&
          e &&
          this.queue.isBusy(id) &&
          !sent.has(id)
          ? e
          : undefined;
      });
      if (!members) continue;
      for (const m of members) sent.add(m.entry.id);
      work.push(sendPack(this.send, pack, members));
    }
    for (const [id, r] of results) {
      const e = byId.get(id);
      if (r.status === 'packed' && !sent.has(id) && e && this.queue.isBusy(id))
        this.failures.retryLater(
          e,
          new FerryError('control.bad_response', 'the offer packed it in no usable pack'),
        );
    }
    return work;
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
    this.tally.logProgress(this.log, () => this.queue.counts);
  }
}
