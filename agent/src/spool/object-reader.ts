import { type FileHandle, open } from 'node:fs/promises';
import { FerryError } from '@ferry/shared';
import { sealedReadError } from './fs-errors.js';
import { sealedRange } from './sealed-range.js';
import type { SpoolLog } from './spool-log.js';

/** Reads whole sealed objects, each into a buffer of its own: see SpoolConsumer.openObjectReader. */
export interface SealedObjectReader {
  /** The object's sealed bytes; rejects with the spool's FerryError for that object. */
  read(id: string): Promise<Buffer>;
  /** Closes the files it opened; reads after this fail. */
  close(): Promise<void>;
}

/** The most one read() may hold: the reader is for packs of small objects, not for large ones. */
export const WHOLE_READ_MAX = 8 << 20;

/**
 * One positional read per object into one buffer, with each file (a log segment holds many inline
 * objects) opened once for every object read from it. A ReadStream per small object cost an open, a
 * read, a close and the stream machinery each: about a quarter of a millisecond a 10 KB instance.
 */
export class ObjectReader implements SealedObjectReader {
  private readonly files = new Map<string, Promise<FileHandle>>();
  private closed = false;

  constructor(private readonly log: SpoolLog) {}

  async read(id: string): Promise<Buffer> {
    const entry = this.log.get(id);
    if (!entry) throw new FerryError('spool.corrupt', `spool object ${id} has no location`);
    if (entry.objectBytes > WHOLE_READ_MAX)
      throw new RangeError(`spool object ${id} (${entry.objectBytes} bytes) is too large for one read`);
    if (this.closed) throw new Error('the object reader is closed');
    const r = sealedRange(this.log, id, 0, entry.objectBytes);
    try {
      const fh = await this.file(r.path);
      const buf = Buffer.allocUnsafeSlow(r.length);
      for (let done = 0; done < r.length; ) {
        const { bytesRead } = await fh.read(buf, done, r.length - done, r.position + done);
        if (bytesRead === 0)
          throw new FerryError('spool.corrupt', `spool object ${id} is shorter than its index entry`);
        done += bytesRead;
      }
      return buf;
    } catch (err) {
      throw err instanceof FerryError ? err : sealedReadError(id, err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all(files.map((f) => f.then((fh) => fh.close()).catch(() => undefined)));
  }

  private file(path: string): Promise<FileHandle> {
    let fh = this.files.get(path);
    if (!fh) {
      fh = open(path, 'r');
      // A failed open is retried by the next read, and never an unhandled rejection.
      fh.catch(() => this.files.delete(path));
      this.files.set(path, fh);
    }
    return fh;
  }
}
