/**
 * A pack's PUT (routes/blob-packs.ts): the small sealed objects of a pack arrive back to back. Each
 * member is opened as soon as its last byte is in (opened.ts: ciphertext hashed, every frame
 * authenticated, plaintext hashed, header parsed), while the rest arrives; then the pack is written as
 * one blob, under a key no other write uses, and the members still open are pointed at it (their
 * offset in it). What each check found is kept (stream-checks.ts), so the members' completes judge
 * them without reading anything back; a complete that finds no check (a restart, another replica)
 * reads its member back as a range of the pack. Nothing is judged here: complete does, member by
 * member, so a bad member is refused alone and its pack-mates get their receipts.
 */
import { randomBytes } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { DbOrTx } from '../db/client.js';
import { placeInPack } from '../db/queries/ingest-uploads.js';
import { deletePackBlobRow, insertPackBlob, type PackRow } from '../db/queries/packs.js';
import type { BlobStore } from '../storage/blob-store.js';
import { type Keys, type Opened, openBytes } from './opened.js';
import { packIdentity, rememberChecked } from './stream-checks.js';
import { storage } from './upload-store.js';

/**
 * A pack blob is judged by the sweep only once this old: longer than any PUT may still be writing it
 * (PACK_PUT_MAX_MS), so the sweep never takes a blob a PUT is about to point members at.
 */
export const PACK_BLOB_GRACE_MS = 60 * 60_000;
/** A PUT slower than this points no member at its blob (the sweep may judge it soon). */
const PACK_PUT_MAX_MS = 20 * 60_000;

function cutOff(received: number, length: number, cause?: unknown): FerryError {
  return new FerryError(
    'request.invalid',
    `pack body was cut off or too long: ${received} of ${length} bytes`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * The body, whole (a pack is at most PACK_MAX_BYTES), with each member's check started once it is in.
 * Most of this function's own CPU is the page faults of the fresh buffer as the body is copied in
 * (9 ms per 16 MiB), not the copy (1.3 ms). A pool of reused 16 MiB buffers was tried: the
 * small-object bench got slower with it, so each PUT still gets a buffer of its pack's size.
 */
async function receiveChecked(
  body: AsyncIterable<Uint8Array>,
  pack: PackRow,
  keys: Keys,
): Promise<{ bytes: Buffer; checks: Promise<Opened>[] }> {
  const bytes = Buffer.allocUnsafe(pack.bytes);
  const checks: Promise<Opened>[] = [];
  let at = 0;
  try {
    for await (const chunk of body) {
      if (at + chunk.byteLength > pack.bytes) throw cutOff(at + chunk.byteLength, pack.bytes);
      bytes.set(chunk, at);
      at += chunk.byteLength;
      for (
        let m = pack.members[checks.length];
        m && at >= m.offset + m.length;
        m = pack.members[checks.length]
      ) {
        const run = openBytes(bytes.subarray(m.offset, m.offset + m.length), keys);
        // Awaited below, once the body is whole; a failed body must not leave it unhandled.
        run.catch(() => {});
        checks.push(run);
      }
    }
  } catch (err) {
    throw err instanceof FerryError ? err : cutOff(at, pack.bytes, err);
  }
  if (at !== pack.bytes) throw cutOff(at, pack.bytes);
  return { bytes, checks };
}

/** Receives one PUT of `pack`; answers how many members now point at the blob it wrote. */
export async function receivePack(opts: {
  db: DbOrTx;
  blobStore: BlobStore;
  keys: Keys;
  pack: PackRow;
  body: AsyncIterable<Uint8Array>;
  log: Logger;
}): Promise<number> {
  const { db, blobStore, pack } = opts;
  const startedAt = Date.now();
  const key = `g/${pack.groupId}/p/${pack.id}.${randomBytes(6).toString('hex')}.fpack`;
  await insertPackBlob(db, { blobKey: key, groupId: pack.groupId, packId: pack.id });
  let placed = new Set<string>();
  try {
    const { bytes, checks } = await receiveChecked(opts.body, pack, opts.keys);
    const opened = await Promise.all(checks);
    await storage('write the pack', () => blobStore.putObject(key, bytes));
    if (Date.now() - startedAt > PACK_PUT_MAX_MS)
      throw new FerryError('upload.url_invalid', 'the pack took too long to arrive; offer the objects again');
    placed = await placeInPack(
      db,
      pack.groupId,
      key,
      pack.members.map((m) => ({ uploadId: m.uploadId, offset: m.offset })),
    );
    pack.members.forEach((m, i) => {
      if (placed.has(m.uploadId))
        rememberChecked(blobStore, m.uploadId, packIdentity(key, m.offset), opened[i]!);
    });
  } finally {
    if (placed.size === 0) {
      // Nothing names it: gone now rather than at the sweep (which still finds it if this fails).
      await blobStore
        .delete(key)
        .then(() => deletePackBlobRow(db, key))
        .catch(() => {});
    }
  }
  opts.log.debug(
    { event: 'upload.pack_received', packId: pack.id, members: pack.members.length, placed: placed.size },
    'pack received',
  );
  return placed.size;
}
