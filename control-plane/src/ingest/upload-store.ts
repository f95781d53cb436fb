/** What offering and completing uploads share: part layout, blob keys, store calls, the stored receipt. */
import { FerryError, type Receipt } from '@ferry/shared';
import type { DbOrTx } from '../db/client.js';
import type { StoredInstanceRef } from '../db/queries/ingest-instances.js';
import { deleteOpenUpload, type UploadRow } from '../db/queries/ingest-uploads.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';

export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/**
 * Lifetime of part URLs. A URL is the only credential of its PUT and cannot be revoked, so it lives
 * minutes: both stores check it when the request starts, so an 8 MiB part needs only to start in
 * time (it takes 70 s at 1 Mbit/s), and the agent offers again for fresh URLs (resuming from the
 * parts held) when the rest would start too late.
 */
export const UPLOAD_URL_SECONDS = 5 * 60;
/** S3's limit on parts per multipart upload. */
export const MAX_UPLOAD_PARTS = 10_000;
/** Blob-store calls in flight at once for one request. */
export const STORE_CONCURRENCY = 8;

/** The dependencies the upload services take besides ctx (AppDeps has them). */
export interface UploadDeps {
  blobStore: BlobStore;
  /** Part size of new uploads (default 8 MiB; tests lower it). */
  partBytes?: number;
  /** Lifetime of part URLs (default UPLOAD_URL_SECONDS). */
  urlSeconds?: number;
}

export function blobKeyOf(groupId: string, objectId: string): string {
  return `g/${groupId}/o/${objectId}.fobj`;
}

export function handleOf(row: Pick<UploadRow, 'id' | 'blobKey' | 'backendUploadId'>): UploadHandle {
  return { key: row.blobKey, uploadId: row.id, backendUploadId: row.backendUploadId ?? undefined };
}

export interface PartLayout {
  partNumber: number;
  offset: number;
  length: number;
}

/** Parts of an object: one when it fits in one part (a single PUT), else `partBytes` each but the last. */
export function partLayout(objectBytes: number, partBytes: number): PartLayout[] {
  const parts: PartLayout[] = [];
  for (let offset = 0, n = 1; offset < objectBytes; offset += partBytes, n++) {
    parts.push({ partNumber: n, offset, length: Math.min(partBytes, objectBytes - offset) });
  }
  return parts;
}

export function partCount(objectBytes: number, partBytes: number): number {
  return Math.max(1, Math.ceil(objectBytes / partBytes));
}

/** Runs a blob-store step; anything but a FerryError becomes `storage.unavailable`. */
export async function storage<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError('storage.unavailable', `the blob store failed to ${step}`, { cause: err });
  }
}

/**
 * The receipt for an object whose instance the group holds (perhaps under another object id).
 * `objectSha256` is the hash of this object's own ciphertext when it was uploaded and verified (the
 * agent checks it against what it sent); for an object found stored at offer time, never uploaded, it
 * is the stored copy's.
 */
export function receiptFor(
  objectId: string,
  stored: StoredInstanceRef,
  verifiedObjectSha256?: string | null,
): Receipt {
  return {
    objectId,
    sopInstanceUid: stored.sopInstanceUid,
    sha256: stored.sha256,
    objectSha256: verifiedObjectSha256 ?? stored.objectSha256,
    storedAt: stored.storedAt.toISOString(),
    duplicate: stored.objectId !== objectId,
  };
}

/**
 * Forgets an upload whose bytes are wrong or gone, so the next offer starts a fresh one. The row goes
 * first, and only while open: a concurrent complete of the same upload that stored it (and gave its
 * receipt) keeps its object. A blob left behind by a failed delete is verified again before any later
 * receipt, so it is never trusted.
 */
export async function forgetUpload(db: DbOrTx, blobStore: BlobStore, row: UploadRow): Promise<void> {
  if (!(await deleteOpenUpload(db, row.id))) return;
  // A pack's blob holds other members: the sweep deletes it once nothing names it.
  if (row.blobOffset !== null) return;
  await storage('abort an upload', () => blobStore.abortUpload(handleOf(row))).catch(() => {});
  await storage('delete an object', () => blobStore.delete(row.blobKey)).catch(() => {});
}
