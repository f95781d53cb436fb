import { writevSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/**
 * writev that never leaves a silent gap: a full disk can make writev return short instead of
 * failing, so write the remainder, and a write that makes no progress is ENOSPC.
 */
export async function writeFully(fh: FileHandle, buffers: Buffer[], position?: number): Promise<number> {
  const w = new Remaining(buffers, position);
  while (!w.done) {
    const batch = w.next();
    w.advance((position === undefined ? await fh.writev(batch) : await fh.writev(batch, w.pos)).bytesWritten);
  }
  return w.total;
}

/**
 * The same, synchronously. For a small O_DSYNC write the thread-pool round trip costs more than the
 * write itself when the caller has nothing to do meanwhile but wait for it (see SpoolLog.flush).
 */
export function writeFullySync(fd: number, buffers: Buffer[], position: number): number {
  const w = new Remaining(buffers, position);
  while (!w.done) w.advance(writevSync(fd, w.next(), w.pos));
  return w.total;
}

class Remaining {
  private pending: Buffer[];
  total = 0;

  constructor(
    buffers: Buffer[],
    public pos: number | undefined,
  ) {
    this.pending = buffers.filter((b) => b.length > 0);
  }

  get done(): boolean {
    return this.pending.length === 0;
  }

  next(): Buffer[] {
    return this.pending.slice(0, 512);
  }

  advance(bytesWritten: number): void {
    if (bytesWritten === 0) {
      throw Object.assign(new Error('no space left on device (write made no progress)'), { code: 'ENOSPC' });
    }
    this.total += bytesWritten;
    if (this.pos !== undefined) this.pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of this.pending) {
      if (skip >= b.length) {
        skip -= b.length;
      } else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    this.pending = rest;
  }
}
