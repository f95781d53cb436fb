import type { Ctx } from '../context.js';
import { deletePackBlobRow, deletePacksBefore, unreferencedPackBlobs } from '../db/queries/packs.js';
import { PACK_BLOB_GRACE_MS } from '../ingest/pack-upload.js';
import type { BlobStore } from '../storage/blob-store.js';

const SWEEP_BATCH = 500;
/** Pack layouts are kept this long: a day past their URLs, for whoever looks into an upload. */
const PACK_ROWS_MS = 24 * 3600_000;

/**
 * Deletes the pack blobs nothing names any more: every member deleted, superseded away or never
 * recorded (a PUT cut off, a pack sent twice). A blob is judged only once it is older than any PUT
 * still writing it could be (PACK_BLOB_GRACE_MS). The blob goes first, then its row, so a failure
 * midway is found again by the next run; deleting twice (two replicas) is harmless.
 */
export async function sweepPackBlobs({
  ctx,
  deps,
  input = {},
}: {
  ctx: Ctx;
  deps: { blobStore: BlobStore };
  input?: { now?: Date; graceMs?: number };
}): Promise<number> {
  const now = input.now ?? new Date();
  const before = new Date(now.getTime() - (input.graceMs ?? PACK_BLOB_GRACE_MS));
  let swept = 0;
  for (;;) {
    const keys = await unreferencedPackBlobs(ctx.db, before, SWEEP_BATCH);
    for (const key of keys) {
      await deps.blobStore.delete(key);
      await deletePackBlobRow(ctx.db, key);
    }
    swept += keys.length;
    if (keys.length < SWEEP_BATCH) break;
  }
  await deletePacksBefore(ctx.db, new Date(now.getTime() - PACK_ROWS_MS));
  return swept;
}
