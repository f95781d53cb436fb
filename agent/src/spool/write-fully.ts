import type { FileHandle } from 'node:fs/promises';

/**
 * writev that never leaves a silent gap: a full disk can make writev return short instead of
 * failing, so write the remainder, and a write that makes no progress is ENOSPC.
 */
export async function writeFully(fh: FileHandle, buffers: Buffer[], position?: number): Promise<number> {
  let pending = buffers.filter((b) => b.length > 0);
  let pos = position;
  let total = 0;
  const MAX_IOV = 512;
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_IOV);
    const { bytesWritten } = pos === undefined ? await fh.writev(batch) : await fh.writev(batch, pos);
    if (bytesWritten === 0) {
      throw Object.assign(new Error('no space left on device (write made no progress)'), { code: 'ENOSPC' });
    }
    total += bytesWritten;
    if (pos !== undefined) pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) {
        skip -= b.length;
      } else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
  return total;
}
