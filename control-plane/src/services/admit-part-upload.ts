import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { uploadStateOf } from '../db/queries/ingest-uploads.js';
import { isUploadTestKey } from './upload-test-key.js';

/**
 * Whether the fs store may write a part PUT: only while its upload is open. The signed URL (checked
 * before this) says which upload and key the bytes are for, and nothing else; it outlives a complete
 * or a cancel by minutes, so the upload's state decides. An upload test's throwaway object has no
 * upload row: its key, under the gateway's diagnostics prefix, is only ever read back by the test.
 *
 * No actor: the URL is the credential. No audit row: part PUTs are high volume, and refused ones
 * change nothing.
 */
export async function admitPartUpload({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { uploadId: string; key: string };
}): Promise<void> {
  if (isUploadTestKey(input.key, input.uploadId)) return;
  const row = await uploadStateOf(ctx.db, input.uploadId);
  if (row?.state === 'open' && row.blobKey === input.key) return;
  ctx.log.info(
    { event: 'upload.part_refused', uploadId: input.uploadId, state: row?.state ?? 'none' },
    'part PUT refused: the upload is not open',
  );
  throw new FerryError(
    'upload.not_found',
    `upload ${input.uploadId} is not open (stored, cancelled or never started): its URLs take no more bytes; offer the object again for fresh ones`,
  );
}
