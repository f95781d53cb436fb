import { FerryError } from '@ferry/shared';

const EMPTY = Buffer.alloc(0);

/**
 * Reads exact byte counts from a stream of chunks, knowing its position, and skips without keeping
 * what it skips: walking a 1 GB file holds one chunk at a time.
 */
export class ByteCursor {
  /** Offset of the next byte to be read, counted from `start`. */
  position: number;
  private buf: Buffer = EMPTY;
  private readonly it: AsyncIterator<Uint8Array>;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>, start = 0) {
    this.it = source[Symbol.asyncIterator]();
    this.position = start;
  }

  private async pull(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.it.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value)
      ? next.value
      : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** At least `n` bytes buffered, or false when the stream ends first. */
  async has(n: number): Promise<boolean> {
    while (this.buf.length < n) if (!(await this.pull())) return false;
    return true;
  }

  /** The next `n` bytes without reading them, or undefined when fewer are left. */
  async peek(n: number): Promise<Buffer | undefined> {
    return (await this.has(n)) ? this.buf.subarray(0, n) : undefined;
  }

  /** True when nothing is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.has(1));
  }

  async read(n: number): Promise<Buffer> {
    if (!(await this.has(n))) {
      throw new FerryError(
        'dicom.dataset_unreadable',
        `the dataset ends inside a value at byte ${this.position}`,
      );
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.position += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > this.buf.length) {
      left -= this.buf.length;
      this.position += this.buf.length;
      this.buf = EMPTY;
      if (!(await this.pull())) {
        throw new FerryError(
          'dicom.dataset_unreadable',
          `the dataset ends inside a value at byte ${this.position}`,
        );
      }
    }
    this.buf = this.buf.subarray(left);
    this.position += left;
  }

  /** What is left, as a stream (the cursor is not used afterwards). */
  async *rest(): AsyncGenerator<Buffer> {
    if (this.buf.length > 0) yield this.buf;
    this.buf = EMPTY;
    for (;;) {
      const next = await this.it.next();
      if (next.done) return;
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
  }

  /** Stops the source (closes the blob stream behind it). */
  async close(): Promise<void> {
    await this.it.return?.(undefined);
  }
}
