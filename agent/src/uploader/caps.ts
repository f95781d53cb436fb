import type { BandwidthWindow } from '@ferry/shared';
import type { Logger } from 'pino';
import { bandwidthCapAt, SCHEDULE_CHECK_MS } from './schedule.js';
import { Semaphore } from './semaphore.js';
import { TokenBucket } from './throttle.js';

/** Objects offered per call, at most (the contract allows 500). */
export const MAX_BATCH_OBJECTS = 200;
/** Sealed bytes offered per call, at most (at least one object): URLs must not expire unused. */
export const MAX_BATCH_BYTES = 64 << 20;
/** Up to this size an object is one small PUT: batched and run many at a time. */
const SMALL_OBJECT_BYTES = 1 << 20;

/** The settings the caps follow (a part of the `upload` section of agent.json). */
export interface CapSettings {
  parallelism: number;
  /** 0 = unlimited. */
  bandwidthBytesPerSecond: number;
  schedule?: readonly BandwidthWindow[];
}

/**
 * How much the uploader may do at once: objects in flight per lane (small objects get four times
 * as many slots as large ones), batches in flight, and the one bandwidth cap every part shares,
 * which the schedule changes as its windows open and close. All of it follows new settings live.
 */
export class UploadCaps {
  private readonly small: Semaphore;
  private readonly large: Semaphore;
  private batches: number;
  private tokens: TokenBucket | undefined;
  private scheduleTimer: NodeJS.Timeout | undefined;

  constructor(
    private settings: CapSettings,
    private readonly log: Logger,
  ) {
    this.applyCap(false);
    this.large = new Semaphore(settings.parallelism);
    this.small = new Semaphore(smallLimit(settings.parallelism));
    this.batches = Math.max(2, settings.parallelism);
  }

  /** Lanes resize (uploads in flight finish) and the cap changes for the parts being sent too. */
  update(settings: CapSettings): void {
    this.settings = settings;
    this.large.setLimit(settings.parallelism);
    this.small.setLimit(smallLimit(settings.parallelism));
    this.batches = Math.max(2, settings.parallelism);
    this.applyCap(false);
  }

  /** Batches offered and not yet done, at most. */
  get maxBatches(): number {
    return this.batches;
  }

  /** The lane an object of this size waits in. */
  lane(objectBytes: number): Semaphore {
    return objectBytes <= SMALL_OBJECT_BYTES ? this.small : this.large;
  }

  /** The bucket parts are metered through; undefined while unlimited. */
  get bucket(): TokenBucket | undefined {
    return this.tokens;
  }

  /** The cap in force now (0 = unlimited). */
  get bytesPerSecond(): number {
    return this.tokens?.bytesPerSecond ?? 0;
  }

  /** Looks at the clock every SCHEDULE_CHECK_MS for a window opening or closing. */
  followSchedule(): void {
    this.scheduleTimer = setInterval(() => this.applyCap(true), SCHEDULE_CHECK_MS);
    this.scheduleTimer.unref();
  }

  stopFollowing(): void {
    clearInterval(this.scheduleTimer);
  }

  /** Sets the bucket to the cap the schedule puts in force now. */
  private applyCap(logChange: boolean): void {
    const { bandwidthBytesPerSecond, schedule } = this.settings;
    const cap = bandwidthCapAt(new Date(), bandwidthBytesPerSecond, schedule ?? []);
    const before = this.bytesPerSecond;
    if (cap === before) return;
    // Parts being sent hold the bucket they started with: a rate change reaches them too.
    if (cap === 0) {
      // Parts in flight stop waiting at once; new parts go unmetered.
      this.tokens?.setRate(Number.MAX_SAFE_INTEGER);
      this.tokens = undefined;
    } else if (this.tokens) this.tokens.setRate(cap);
    else this.tokens = new TokenBucket(cap);
    if (logChange)
      this.log.info(
        { event: 'upload.cap_changed', fromBytesPerSecond: before, toBytesPerSecond: cap },
        'upload bandwidth cap changed by the schedule',
      );
  }
}

function smallLimit(parallelism: number): number {
  return Math.min(64, parallelism * 4);
}
