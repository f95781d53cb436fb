import type { Logger } from 'pino';
import type { IndexEntry } from './index-entry.js';

const SWEEP_EVERY_MS = 60_000;

/** The spool as retention sees it: the index, and the one operation that deletes local copies. */
export interface RetentionStore {
  entries(): IndexEntry[];
  entry(id: string): IndexEntry | undefined;
  purgeDelivered(ids: readonly string[], opts: PurgeOptions): Promise<string[]>;
}

export interface PurgeOptions {
  log: Logger;
  /** Checked before each deletion: a stopping sweep leaves the rest for the next start. */
  stopped?: () => boolean;
}

export interface RetentionOptions {
  /** Changed live by setRetentionMs. */
  retentionMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * Deletes the local copy (objects/<id>.fobj) of delivered file objects once they have been delivered
 * for `retentionMs`; never before the receipt, since only delivered entries are looked at. Inline
 * objects live in log segments, which the spool log reclaims once everything in them is delivered
 * and purged.
 *
 * Crash-safe and idempotent (see Spool.purgeDelivered). The shipping side runs it while it ships
 * and tells it about each receipt; the spool does the deleting.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** First time an entry was seen delivered without a delivery time (logs from before it existed). */
  private readonly firstSeen = new Map<string, number>();
  /** Delivered since the last sweep: checked without scanning the whole index. */
  private readonly fresh = new Set<string>();
  private fullScanDue = true;

  private readonly opts: RetentionOptions;

  constructor(
    private readonly store: RetentionStore,
    opts: RetentionOptions,
  ) {
    this.opts = { ...opts };
  }

  /** A new retention takes effect at the next sweep, which runs now. */
  setRetentionMs(ms: number): void {
    if (ms === this.opts.retentionMs) return;
    this.opts.retentionMs = ms;
    this.fullScanDue = true;
    if (!this.stopped && this.timer) this.schedule(0);
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  /** Called after an entry's delivered record is durable. */
  delivered(entry: IndexEntry): void {
    if (entry.inline || this.opts.retentionMs !== 0) return;
    this.fresh.add(entry.id);
    this.sweepSoon();
  }

  /** Runs one sweep now (or right after the current one); resolves when it is done. */
  sweep(opts: { full?: boolean } = { full: true }): Promise<void> {
    if (opts.full) this.fullScanDue = true;
    if (this.sweeping) {
      this.again = true;
      return this.sweeping;
    }
    this.sweeping = (async () => {
      try {
        do {
          this.again = false;
          await this.purgeDue();
        } while (this.again && !this.stopped);
      } catch (err) {
        this.opts.log.error({ event: 'upload.retention_failed', err }, 'could not delete delivered objects');
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  private sweepSoon(): void {
    if (this.stopped) return;
    void this.sweep({ full: false });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.sweep().finally(() =>
        this.schedule(Math.min(SWEEP_EVERY_MS, Math.max(1000, this.opts.retentionMs))),
      );
    }, ms);
    this.timer.unref();
  }

  private due(entry: IndexEntry, now: number): boolean {
    if (entry.state !== 'delivered' || entry.inline || entry.purged) return false;
    let since = entry.deliveredAt ? Date.parse(entry.deliveredAt) : Number.NaN;
    if (Number.isNaN(since)) {
      since = this.firstSeen.get(entry.id) ?? now;
      this.firstSeen.set(entry.id, since);
    }
    return now - since >= this.opts.retentionMs;
  }

  private async purgeDue(): Promise<void> {
    const { store } = this;
    const { log } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    // The periodic sweep looks at everything (restarts, retention > 0); in between only at fresh receipts.
    const candidates = this.fullScanDue
      ? store.entries()
      : [...this.fresh].flatMap((id) => store.entry(id) ?? []);
    this.fullScanDue = false;
    this.fresh.clear();
    const due = candidates.filter((e) => this.due(e, now));
    if (due.length === 0) return;
    const gone = await store.purgeDelivered(
      due.map((e) => e.id),
      { log, stopped: () => this.stopped },
    );
    if (gone.length === 0) return;
    for (const id of gone) this.firstSeen.delete(id);
    log.info({ event: 'upload.local_copies_deleted', count: gone.length }, 'deleted delivered local copies');
  }
}
