import type { IndexEntry } from '../spool/consumer.js';

/** Per-object failure counts, kept while an object keeps failing. */
export interface Attempts {
  /** Transient failures so far: the backoff exponent. */
  attempt: number;
  /** Refused part PUTs so far. */
  strikes: number;
}

/**
 * Which object is where: ready to offer (oldest first), busy in a batch, or backing off until a time.
 * Each pending object is in exactly one place, so a wake-up or a rescan never offers it twice.
 */
export class WorkQueue {
  private ready: IndexEntry[] = [];
  private readonly queued = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly waiting = new Map<string, number>();
  private readonly attempts = new Map<string, Attempts>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly opts: {
      /** Still worth uploading (spooled or uploading, and durable). */
      isPending: (e: IndexEntry) => boolean;
      /** The entry as the spool has it now. */
      lookup: (id: string) => IndexEntry | undefined;
      /** Called when backed-off objects become ready again. */
      onReady: () => void;
    },
  ) {}

  get counts(): { ready: number; busy: number; waiting: number } {
    return { ready: this.ready.length, busy: this.busy.size, waiting: this.waiting.size };
  }

  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  isBusy(id: string): boolean {
    return this.busy.has(id);
  }

  private known(id: string): boolean {
    return this.queued.has(id) || this.busy.has(id) || this.waiting.has(id);
  }

  /** Adds a pending entry nobody holds yet, at its age's place (new entries go at the end). */
  add(e: IndexEntry): void {
    if (this.stopped || !this.opts.isPending(e) || this.known(e.id)) return;
    this.queued.add(e.id);
    const last = this.ready.at(-1);
    if (!last || last.receivedAt <= e.receivedAt) {
      this.ready.push(e);
      return;
    }
    let lo = 0;
    let hi = this.ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ready[mid]!.receivedAt <= e.receivedAt) lo = mid + 1;
      else hi = mid;
    }
    this.ready.splice(lo, 0, e);
  }

  /** Adds every pending entry of `entries` not held yet, oldest first. */
  addAll(entries: IndexEntry[]): void {
    const found = entries
      .filter((e) => this.opts.isPending(e) && !this.known(e.id))
      .sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : a.receivedAt > b.receivedAt ? 1 : 0));
    for (const e of found) this.add(e);
  }

  /** The oldest ready entries, up to `maxObjects` and `maxBytes` (at least one); they become busy. */
  take(maxObjects: number, maxBytes: number): IndexEntry[] {
    const batch: IndexEntry[] = [];
    let bytes = 0;
    while (this.ready.length > 0 && batch.length < maxObjects) {
      const e = this.ready[0]!;
      if (batch.length > 0 && bytes + e.objectBytes > maxBytes) break;
      this.ready.shift();
      this.queued.delete(e.id);
      if (!this.opts.isPending(e)) continue;
      this.busy.add(e.id);
      batch.push(e);
      bytes += e.objectBytes;
    }
    return batch;
  }

  attemptsOf(id: string): Attempts {
    let a = this.attempts.get(id);
    if (!a) {
      a = { attempt: 0, strikes: 0 };
      this.attempts.set(id, a);
    }
    return a;
  }

  /** The object is settled (delivered or quarantined): forget it. */
  settle(id: string): void {
    this.busy.delete(id);
    this.attempts.delete(id);
  }

  /** Let go of a busy object without a verdict (stopping); a rescan finds it again. */
  release(id: string): void {
    this.busy.delete(id);
  }

  /** Back to the ready queue at once (its batch could not be offered). */
  requeue(e: IndexEntry): void {
    this.busy.delete(e.id);
    this.add(e);
  }

  /** Ready again after `delayMs`. */
  retryAfter(id: string, delayMs: number): void {
    this.busy.delete(id);
    this.waiting.set(id, Date.now() + delayMs);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped || this.waiting.size === 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const due of this.waiting.values()) next = Math.min(next, due);
    this.timer = setTimeout(
      () => {
        const now = Date.now();
        for (const [id, due] of this.waiting) {
          if (due > now) continue;
          this.waiting.delete(id);
          const current = this.opts.lookup(id);
          if (current) this.add(current);
        }
        this.schedule();
        this.opts.onReady();
      },
      Math.max(0, next - Date.now()),
    );
    this.timer.unref();
  }
}
