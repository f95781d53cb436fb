import { FerryError } from '@ferry/shared';
import type { SpoolLog } from './spool-log.js';

/** Where bytes [start, end) of a spooled object's sealed bytes are: a file and a position in it. */
export interface SealedRange {
  path: string;
  /** Position of `start` in the file (an inline object is a range of its log segment). */
  position: number;
  length: number;
}

/** Checks [start, end) (end exclusive, start < end) against the object and finds it on disk. */
export function sealedRange(log: SpoolLog, id: string, start: number, end: number): SealedRange {
  const entry = log.get(id);
  const where = log.location(id);
  if (!entry || !where) throw new FerryError('spool.corrupt', `spool object ${id} has no location`);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start)
    throw new RangeError(`invalid byte range [${start}, ${end}) of spool object ${id}`);
  if (end > entry.objectBytes)
    throw new RangeError(
      `byte range [${start}, ${end}) is beyond spool object ${id} (${entry.objectBytes} bytes)`,
    );
  const base = where.kind === 'inline' ? where.start : 0;
  return { path: where.path, position: base + start, length: end - start };
}
