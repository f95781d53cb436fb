import { createHash } from 'node:crypto';
import { FerryError, isFerryError, type UploadTestVerifyResponse } from '@ferry/shared';
import type { Ctx } from '../context.js';
import type { BlobStore } from '../storage/blob-store.js';
import { requireAgent } from './permissions.js';
import { UPLOAD_TEST_BYTES, uploadTestKey } from './upload-test-key.js';

/**
 * Reads the calling gateway's upload-test object back, compares it with the SHA-256 the gateway
 * sent and deletes it. A test id of another gateway (or group) names a key that does not exist for
 * this caller, so it is `resource.not_found` like an unknown one.
 */
export async function verifyUploadTest({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: { testId: string; sha256: string };
  deps: { blobStore: BlobStore };
}): Promise<UploadTestVerifyResponse> {
  const agent = requireAgent(ctx.actor);
  const key = uploadTestKey(agent, input.testId);
  // The PUT staged its bytes (no URL writes an object's key): publish them, then read them back.
  await deps.blobStore
    .completeUpload({ key, uploadId: input.testId, backendUploadId: undefined }, [
      { partNumber: 1, size: UPLOAD_TEST_BYTES },
    ])
    .catch((err: unknown) => {
      if (!isFerryError(err, 'upload.incomplete')) throw err;
    });
  const head = await deps.blobStore.head(key);
  if (!head)
    throw new FerryError(
      'resource.not_found',
      'no upload test object with this id: the PUT did not reach the store, or it was verified already',
    );
  // Never read more than a test object can be: the URL was signed for exactly UPLOAD_TEST_BYTES.
  if (head.size > UPLOAD_TEST_BYTES) {
    await deps.blobStore.delete(key);
    throw new FerryError(
      'request.invalid',
      `the upload test object is ${head.size} bytes, more than a test sends`,
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of await deps.blobStore.get(key)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } finally {
    await deps.blobStore.delete(key);
  }
  const sha256 = hash.digest('hex');
  const ok = sha256 === input.sha256 && bytes === UPLOAD_TEST_BYTES;
  ctx.log.info(
    { event: 'diagnostic.upload_test_verified', gatewayId: agent.gatewayId, testId: input.testId, ok, bytes },
    'upload test verified',
  );
  return { ok, bytes, sha256 };
}
