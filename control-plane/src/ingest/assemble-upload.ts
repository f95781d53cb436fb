import { isFerryError } from '@ferry/shared';
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';
import type { Keys } from './opened.js';
import { checkWith, rememberChecked } from './stream-checks.js';
import { handleOf, type PartLayout, partLayout, storage } from './upload-store.js';
import { retry } from './verdict.js';

/** A retry naming the first missing part, unless the store holds every part of a multipart upload whole. */
async function assertPartsHeld(
  blobStore: BlobStore,
  handle: UploadHandle,
  layout: PartLayout[],
): Promise<void> {
  let held: Map<number, number>;
  try {
    const listed = await storage('list uploaded parts', () => blobStore.listParts(handle));
    held = new Map(listed.map((p) => [p.partNumber, p.size]));
  } catch (err) {
    if (isFerryError(err, 'upload.not_found')) {
      throw retry('upload.incomplete', 'the store no longer holds this upload; offer the object again', true);
    }
    throw err;
  }
  const missing = layout.filter((p) => held.get(p.partNumber) !== p.length);
  if (missing.length > 0) {
    throw retry(
      'upload.incomplete',
      `${missing.length} of ${layout.length} parts have not arrived (first: part ${missing[0]!.partNumber}); offer the object again to resume`,
    );
  }
}

/**
 * Publishes the upload at its key (unless a previous complete already did): joins a multipart
 * upload's parts, or moves a single PUT's staged object there. Missing parts are a retry: the upload
 * stays open. A single PUT is not looked up first: publishing finds it missing (a retry), and verify
 * reads it anyway (another size: a hash mismatch). A member of a pack is published by its pack's PUT. Where the store joins a multipart upload's parts
 * itself (fs), the joined bytes are opened as they are written, so verify need not read them back.
 */
export async function assembleUpload(blobStore: BlobStore, row: UploadRow, keys: Keys): Promise<void> {
  // A pack PUT wrote it into the pack's blob: nothing to publish.
  if (row.blobOffset !== null) return;
  const layout = partLayout(row.objectBytes, row.partBytes);
  const handle = handleOf(row);
  if (layout.length > 1) {
    const head = await storage('read an object size', () => blobStore.head(row.blobKey));
    if (head?.size === row.objectBytes) return;
    await assertPartsHeld(blobStore, handle, layout);
  }
  const parts = layout.map((p) => ({ partNumber: p.partNumber, size: p.length }));
  try {
    if (layout.length > 1 && blobStore.completeChecked) {
      const { identity, checked } = await storage('complete the upload', () =>
        blobStore.completeChecked!(handle, parts, checkWith(keys)),
      );
      rememberChecked(blobStore, row.id, identity, checked);
    } else await storage('complete the upload', () => blobStore.completeUpload(handle, parts));
  } catch (err) {
    if (isFerryError(err, 'upload.incomplete')) {
      throw retry(
        'upload.incomplete',
        layout.length === 1 ? 'the object has not arrived; send it, then complete again' : err.message,
      );
    }
    throw err;
  }
}
