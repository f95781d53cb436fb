import { Transform } from 'node:stream';

/**
 * A token bucket for upload bytes, shared by every upload so that together they stay under the cap.
 * Takers go into debt instead of queueing: each take() waits until the bucket is back at zero, so
 * concurrent uploads are served in the order they asked, with no waiter list to keep.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly burstBytes: number;

  constructor(
    readonly bytesPerSecond: number,
    opts: { burstBytes?: number; now?: () => number } = {},
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('a token bucket needs a rate above 0 bytes/s');
    this.now = opts.now ?? (() => performance.now());
    // A burst of an eighth of a second smooths timer jitter without letting much through at once.
    this.burstBytes =
      opts.burstBytes ?? Math.max(16 << 10, Math.min(1 << 20, Math.floor(bytesPerSecond / 8)));
    this.tokens = this.burstBytes;
    this.last = this.now();
  }

  private readonly now: () => number;

  /** Milliseconds to wait before `bytes` may pass; the bytes are counted at once. */
  reserve(bytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) / 1000) * this.bytesPerSecond);
    this.last = t;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000;
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
