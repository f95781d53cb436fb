/**
 * Where a stored object's sealed bytes lie: a whole blob (`key`), or a member of a pack's blob
 * (`key#offset+length`). The readers (openStoredObject, the sealed-object index) carry the location as
 * they carried a key, and read through `getLocated`, which turns a read of the object (or of a range of
 * it) into a range read of the pack. Keys cannot hold `#` (blob-checks.ts), so the two never mix up.
 */
import type { Readable } from 'node:stream';
import { FerryError } from '@ferry/shared';
import type { BlobStore } from './blob-store.js';

const MEMBER = /^(.+)#(0|[1-9][0-9]{0,15})\+([1-9][0-9]{0,15})$/;

export interface BlobLocation {
  key: string;
  /** Set for a pack member: where the object lies in the blob. */
  member?: { offset: number; length: number };
}

export function locationOf(key: string, offset: number | null, length: number): string {
  return offset === null ? key : `${key}#${offset}+${length}`;
}

export function parseLocation(location: string): BlobLocation {
  const m = MEMBER.exec(location);
  if (!m) return { key: location };
  return { key: m[1]!, member: { offset: Number(m[2]), length: Number(m[3]) } };
}

/** Streams the object at `location` (or `range` of it, inclusive end), as BlobStore.get does a blob. */
export async function getLocated(
  blobStore: BlobStore,
  location: string,
  range?: { start: number; end: number },
): Promise<Readable> {
  const { key, member } = parseLocation(location);
  if (!member) return blobStore.get(key, range);
  const start = range?.start ?? 0;
  const end = range?.end ?? member.length - 1;
  if (start >= member.length)
    throw new FerryError(
      'request.invalid',
      `range starts at ${start}, past the ${member.length}-byte object`,
    );
  return blobStore.get(key, {
    start: member.offset + start,
    end: member.offset + Math.min(end, member.length - 1),
  });
}
