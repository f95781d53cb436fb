import { Transform } from 'node:stream';

/**
 * A token bucket for upload bytes, shared by every upload so that together they stay under the cap.
 * Takers go into debt instead of queueing: each take() waits until the bucket is back at zero, so
 * concurrent uploads are served in the order they asked, with no waiter list to keep.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private rate: number;
  private burst: number;
  private readonly fixedBurst: number | undefined;
  private readonly now: () => number;

  constructor(bytesPerSecond: number, opts: { burstBytes?: number; now?: () => number } = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.fixedBurst = opts.burstBytes;
    this.rate = checkRate(bytesPerSecond);
    this.burst = this.burstFor(this.rate);
    this.tokens = this.burst;
    this.last = this.now();
  }

  get bytesPerSecond(): number {
    return this.rate;
  }

  get burstBytes(): number {
    return this.burst;
  }

  /**
   * Changes the rate live (a pushed config, a schedule window opening or closing): what has
   * accrued so far counts at the old rate, and debt already taken is paid at the new one.
   */
  setRate(bytesPerSecond: number): void {
    const rate = checkRate(bytesPerSecond);
    if (rate === this.rate) return;
    this.refill();
    this.rate = rate;
    this.burst = this.burstFor(rate);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  private burstFor(rate: number): number {
    // A burst of an eighth of a second smooths timer jitter without letting much through at once.
    return this.fixedBurst ?? Math.max(16 << 10, Math.min(1 << 20, Math.floor(rate / 8)));
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Milliseconds to wait before `bytes` may pass; the bytes are counted at once. */
  reserve(bytes: number): number {
    this.refill();
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  /** Resolves once `bytes` may pass (at once while the bucket has tokens). */
  async take(bytes: number): Promise<void> {
    const wait = this.reserve(bytes);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** Pieces handed to take(): small enough that one upload cannot hold the others back for long. */
  get pieceBytes(): number {
    return Math.max(1024, Math.min(64 << 10, Math.floor(this.bytesPerSecond / 16)));
  }
}

function checkRate(bytesPerSecond: number): number {
  if (!(bytesPerSecond > 0)) throw new RangeError('a token bucket needs a rate above 0 bytes/s');
  return bytesPerSecond;
}

/** A pass-through that meters the bytes through `bucket`; without a bucket, nothing but a pass-through. */
export function throttle(bucket: TokenBucket | undefined): Transform {
  if (!bucket) return new Transform({ transform: (chunk, _enc, cb) => cb(null, chunk) });
  const piece = bucket.pieceBytes;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      void (async () => {
        for (let off = 0; off < chunk.length && !this.destroyed; off += piece) {
          const part = chunk.subarray(off, off + piece);
          await bucket.take(part.length);
          this.push(part);
        }
      })().then(() => cb(), cb);
    },
  });
}
