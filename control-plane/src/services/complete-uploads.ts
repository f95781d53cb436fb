import { mapLimit, type UploadCompleteRequest, type UploadCompleteResponse } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import { storedInstancesBySopAndHash } from '../db/queries/ingest-instances.js';
import { uploadsByIds } from '../db/queries/ingest-uploads.js';
import { type Completion, type Prepared, prepare, studyOrder } from '../ingest/completion.js';
import { recordCompleted } from '../ingest/record-completed.js';
import type { UploadDeps } from '../ingest/upload-store.js';
import { EpochKeyCache } from '../storage/open-stored-object.js';
import { requireAgent } from './permissions.js';

/**
 * Objects verified at once: each reads the store (waits), then hashes and decrypts (CPU). Small objects
 * spend most of their time waiting on the store, so more are in flight than there are cores.
 */
const VERIFY_CONCURRENCY = 8;

export interface CompleteUploadsDeps extends UploadDeps {
  /** AppDeps.recipientPrivateKeys: newest first. */
  recipientPrivateKeys: readonly JWK[];
}

/**
 * The agent says every part of these objects is sent. Each is assembled and verified (ciphertext hash,
 * every GCM frame, plaintext hash and size, manifest, DICOM header), a few at a time; the verified ones
 * are then recorded in batches, each batch one transaction that marks its uploads stored and records
 * their instances (so many small instances share a commit). The answer per object is `stored` with a
 * receipt, `retry` (parts missing, torn upload, storage down: offer it again) or `refused` (the object
 * itself is bad).
 */
export async function completeUploads({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: UploadCompleteRequest;
  deps: CompleteUploadsDeps;
}): Promise<UploadCompleteResponse> {
  const agent = requireAgent(ctx.actor);
  const rows = await uploadsByIds(ctx.db, agent.groupId, [...new Set(input.objects.map((o) => o.uploadId))]);
  const storedSops = rows.filter((r) => r.state === 'stored').map((r) => r.sopInstanceUid);
  const c: Completion = {
    ctx,
    agent: { groupId: agent.groupId, facilityId: agent.facilityId, gatewayId: agent.gatewayId },
    blobStore: deps.blobStore,
    // An agent wraps one epoch key per study or few minutes, not per object.
    keys: { privateKeys: deps.recipientPrivateKeys, cache: new EpochKeyCache() },
    rowOf: new Map(rows.map((r) => [r.id, r])),
    stored: await storedInstancesBySopAndHash(ctx.db, agent.groupId, storedSops),
    claimed: new Set(),
    results: new Array(input.objects.length),
  };
  const prepared = await mapLimit(
    input.objects.map((o, i) => [o, i] as const),
    VERIFY_CONCURRENCY,
    ([o, i]) => prepare(c, o, i),
  );
  const verified = prepared.filter((p): p is Prepared => p !== undefined).sort(studyOrder);
  await recordCompleted(c, verified);
  return { objects: c.results };
}
