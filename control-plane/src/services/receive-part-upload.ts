/**
 * The fs store's part PUTs (routes/blob-parts.ts): its stand-in for S3's presigned PUT. With S3 the
 * agent PUTs to S3 itself and this app takes no blob bytes at all.
 */
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import type { Opened } from '../ingest/opened.js';
import { checkInStream, rememberChecked } from '../ingest/stream-checks.js';
import type { BlobStore } from '../storage/blob-store.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import type { PartUrlFields } from '../storage/part-signature.js';
import { admitPartUpload } from './admit-part-upload.js';
import { isUploadTestKey } from './upload-test-key.js';

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
  /** With `check`, the chunks pass through it as they are written (FsBlobStore.receivePart). */
  receivePart<T>(
    fields: PartUploadFields,
    body: AsyncIterable<Uint8Array>,
    check?: (chunks: AsyncIterable<Buffer>) => Promise<T>,
  ): Promise<{ etag: string; identity: string; checked?: T }>;
}

/** The blob store itself, when it takes part PUTs through this app. */
export type PartReceivingStore = PartUploadStore & BlobStore;

/** The store, when it takes part PUTs through this app (the fs store); undefined with S3. */
export function partUploadStore(blobStore: BlobStore): PartReceivingStore | undefined {
  return blobStore instanceof FsBlobStore ? blobStore : undefined;
}

/**
 * Writes one verified part while its upload is open (admitPartUpload), streamed to disk; a body of any
 * other length than the signed one is refused and leaves nothing behind. Returns the part's ETag.
 *
 * A single-PUT object is opened as it is written (ingest/stream-checks.ts), so its complete need not
 * read it back: the bytes pass through the control plane here anyway. A part of a multipart object
 * cannot be checked alone (parts arrive in any order, in parallel); complete opens those as it joins
 * them (FsBlobStore.completeChecked).
 */
export async function receivePartUpload({
  ctx,
  store,
  input,
}: {
  ctx: Ctx;
  store: PartReceivingStore;
  input: { fields: PartUploadFields; body: AsyncIterable<Uint8Array>; privateKeys: readonly JWK[] };
}): Promise<{ etag: string }> {
  const { fields, body } = input;
  await admitPartUpload({ ctx, input: { uploadId: fields.uploadId, key: fields.key } });
  if (!fields.single || isUploadTestKey(fields.key, fields.uploadId)) return store.receivePart(fields, body);
  const written = await store.receivePart<Opened>(fields, body, checkInStream(input.privateKeys));
  if (written.checked) rememberChecked(store, fields.uploadId, written.identity, written.checked);
  return { etag: written.etag };
}
