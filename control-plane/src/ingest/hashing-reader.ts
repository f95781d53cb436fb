import { createHash, type Hash } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import { coalesce } from '../storage/open-stored-object.js';

/**
 * Reads an object once (from the store, or as a PUT writes it), hashing and counting every byte as it is pulled. `chunks()` hands them on
 * in pieces of at least `min` bytes; `drain()` pulls the rest straight from the source, so the hash is
 * whole even when the consumer gave up (or closed the generator) halfway. Store failures are
 * storage.unavailable.
 */
export class HashingReader {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private readonly it: AsyncIterator<unknown>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<Buffer | undefined> {
    let next: IteratorResult<unknown>;
    try {
      next = await this.it.next();
    } catch (cause) {
      throw new FerryError('storage.unavailable', 'the blob store failed while reading an object', { cause });
    }
    if (next.done) return undefined;
    const chunk = next.value as Buffer;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return chunk;
  }

  /** Every chunk, gathered into pieces of at least `min` bytes. */
  chunks(min: number): AsyncGenerator<Buffer> {
    return coalesce(this.pulled(), min);
  }

  private async *pulled(): AsyncGenerator<Buffer> {
    for (let chunk = await this.pull(); chunk; chunk = await this.pull()) yield chunk;
  }

  async drain(): Promise<void> {
    while (await this.pull()) {
      // hashed and counted by pull
    }
  }
}
