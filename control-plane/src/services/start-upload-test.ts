import { randomUUID } from 'node:crypto';
import type { UploadTestStartResponse } from '@ferry/shared';
import type { Ctx } from '../context.js';
import type { BlobStore } from '../storage/blob-store.js';
import { requireAgent } from './permissions.js';
import { UPLOAD_TEST_BYTES, UPLOAD_TEST_URL_SECONDS, uploadTestKey } from './upload-test-key.js';

/**
 * Starts an upload round-trip test for the calling gateway: a presigned single-PUT URL for a
 * throwaway object. Nothing is recorded: the object key itself is the test's only state, and verify
 * deletes it (an abandoned test leaves one small object under the gateway's diagnostics prefix).
 */
export async function startUploadTest({
  ctx,
  deps,
}: {
  ctx: Ctx;
  input?: Record<string, never>;
  deps: { blobStore: BlobStore };
}): Promise<UploadTestStartResponse> {
  const agent = requireAgent(ctx.actor);
  const testId = randomUUID();
  const handle = await deps.blobStore.createUpload({
    key: uploadTestKey(agent, testId),
    uploadId: testId,
    parts: 1,
  });
  const url = await deps.blobStore.partUrl(
    handle,
    { partNumber: 1, length: UPLOAD_TEST_BYTES, single: true },
    UPLOAD_TEST_URL_SECONDS,
  );
  ctx.log.info(
    { event: 'diagnostic.upload_test_started', gatewayId: agent.gatewayId, testId },
    'upload test started',
  );
  return {
    testId,
    url,
    bytes: UPLOAD_TEST_BYTES,
    expiresAt: new Date(Date.now() + UPLOAD_TEST_URL_SECONDS * 1000).toISOString(),
  };
}
