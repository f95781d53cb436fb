import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { FerryError } from '@ferry/shared';

/** Body chunks are gathered to this size before a write: a 1 MiB write costs what a 64 KiB one does. */
export const WRITE_BYTES = 1 << 20;

/**
 * Reads a part PUT's body exactly once: refuses any length but `length`, hashes it (MD5, the ETag),
 * gathers it into large chunks and writes each to `out`, one write in flight while the chunk is handed
 * on. Iterating it (a check that opens the object as it arrives) drives the copy; `finish()` pulls
 * whatever the check left and waits for the last write. A check never sees the body's own failures:
 * they are kept in `failure` and thrown by `finish()`, so a cut-off body is never taken for a bad object.
 */
export class PartFeed implements AsyncIterable<Buffer> {
  /** Only for an ETag: a join of parts already held needs none. */
  private readonly md5: Hash | undefined;
  private readonly it: AsyncIterator<Uint8Array>;
  private received = 0;
  private writing: Promise<void> = Promise.resolve();
  private done = false;
  failure: FerryError | undefined;

  constructor(
    body: AsyncIterable<Uint8Array>,
    private readonly out: FileHandle,
    private readonly length: number,
    opts: { md5?: boolean } = {},
  ) {
    this.it = body[Symbol.asyncIterator]();
    this.md5 = opts.md5 === false ? undefined : createHash('md5');
  }

  /** The iterator ignores `return()`: a check that stops early leaves the rest to `finish()`. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return { next: async () => this.next() };
  }

  private async next(): Promise<IteratorResult<Buffer>> {
    // The previous chunk's write ends before more is read: at most two chunks are held.
    await this.writing;
    const chunk = this.done ? undefined : await this.gather();
    if (!chunk) return { done: true, value: undefined };
    this.writing = writeAll(this.out, chunk);
    // A failed write is thrown by finish(); the check must not take it for a bad object.
    this.writing.catch(() => {});
    return { done: false, value: chunk };
  }

  private async gather(): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < WRITE_BYTES) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await this.it.next();
      } catch (cause) {
        throw this.fail(
          new FerryError('request.invalid', `upload body was cut off after ${this.received} bytes`, {
            cause,
          }),
        );
      }
      if (next.done) {
        this.done = true;
        break;
      }
      const chunk = next.value;
      this.received += chunk.byteLength;
      if (this.received > this.length) {
        // Stop reading: the rest is not wanted, and the stream is released.
        await this.it.return?.().catch(() => {});
        throw this.fail(new FerryError('request.invalid', `upload body runs past its ${this.length} bytes`));
      }
      this.md5?.update(chunk);
      parts.push(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
      size += chunk.byteLength;
    }
    if (this.done && this.received !== this.length)
      throw this.fail(
        new FerryError('request.invalid', `upload body ended after ${this.received} of ${this.length} bytes`),
      );
    if (size === 0) return undefined;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
  }

  private fail(err: FerryError): FerryError {
    this.failure ??= err;
    this.done = true;
    return err;
  }

  /** Copies the rest, waits for every write, and returns the body's hex MD5 (if asked); throws the body's failure. */
  async finish(): Promise<string> {
    if (this.failure) throw this.failure;
    for (let r = await this.next(); !r.done; r = await this.next()) {
      // written by next()
    }
    await this.writing;
    return this.md5?.digest('hex') ?? '';
  }
}

export async function writeAll(out: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await out.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}
