/**
 * The fs store's part PUTs (routes/blob-parts.ts): its stand-in for S3's presigned PUT. With S3 the
 * agent PUTs to S3 itself and this app takes no blob bytes at all.
 */
import type { Ctx } from '../context.js';
import type { BlobStore } from '../storage/blob-store.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import type { PartUrlFields } from '../storage/part-signature.js';
import { admitPartUpload } from './admit-part-upload.js';

/** What a signed part URL says: the upload, the part, its exact length and the object's key. */
export type PartUploadFields = PartUrlFields;

/** A blob store that takes part PUTs through this app. */
export interface PartUploadStore {
  /** Checks a part PUT's path and query; throws `upload.url_invalid`. */
  verifyPartRequest(req: {
    uploadId: string;
    partNumber: string;
    query: Record<string, string | undefined>;
  }): PartUploadFields;
  receivePart(fields: PartUploadFields, body: AsyncIterable<Uint8Array>): Promise<{ etag: string }>;
}

/** The store, when it takes part PUTs through this app (the fs store); undefined with S3. */
export function partUploadStore(blobStore: BlobStore): PartUploadStore | undefined {
  return blobStore instanceof FsBlobStore ? blobStore : undefined;
}

/**
 * Writes one verified part while its upload is open (admitPartUpload), streamed to disk; a body of any
 * other length than the signed one is refused and leaves nothing behind. Returns the part's ETag.
 */
export async function receivePartUpload({
  ctx,
  store,
  input,
}: {
  ctx: Ctx;
  store: PartUploadStore;
  input: { fields: PartUploadFields; body: AsyncIterable<Uint8Array> };
}): Promise<{ etag: string }> {
  const { fields, body } = input;
  await admitPartUpload({ ctx, input: { uploadId: fields.uploadId, key: fields.key } });
  return store.receivePart(fields, body);
}
