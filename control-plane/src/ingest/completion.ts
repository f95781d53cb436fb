/**
 * Completing one upload up to its index write: find the upload, answer at once when there is nothing
 * to do (unknown, twice in the request, already stored), else publish and verify its object.
 */
import type { UploadCompleteRequest, UploadCompleteResult } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { instanceKey, type StoredInstanceRef } from '../db/queries/ingest-instances.js';
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import type { BlobStore } from '../storage/blob-store.js';
import { assembleUpload } from './assemble-upload.js';
import type { RecordInstanceInput } from './recorded.js';
import { forgetUpload, receiptFor } from './upload-store.js';
import { mustReset, setbackOf } from './verdict.js';
import { type Keys, type VerifiedObject, verifyObject } from './verify-object.js';

export type CompleteItem = UploadCompleteRequest['objects'][number];

/** One complete request while it runs. */
export interface Completion {
  ctx: Ctx;
  agent: { groupId: string; facilityId: string; gatewayId: string };
  blobStore: BlobStore;
  keys: Keys;
  /** The request's uploads of the agent's group, by id. */
  rowOf: Map<string, UploadRow>;
  /** The group's instances of the request's already stored uploads. */
  stored: Map<string, StoredInstanceRef>;
  /** Uploads an earlier item of the request took. */
  claimed: Set<string>;
  /** The answers, by item. */
  results: UploadCompleteResult[];
}

/** An object that passed verification and waits for its index write. */
export interface Prepared {
  index: number;
  o: CompleteItem;
  row: UploadRow;
  verified: VerifiedObject;
  /** What recordInstances gets, but for storedAt (set when its batch is written). */
  record: Omit<RecordInstanceInput, 'storedAt'>;
}

/** Turns a failure into the object's answer (forgetting the upload where a re-send must start over). */
export async function settle(
  c: Completion,
  o: CompleteItem,
  row: UploadRow,
  err: unknown,
): Promise<UploadCompleteResult> {
  const outcome = setbackOf(err);
  if (!outcome) throw err;
  if (mustReset(outcome)) await forgetUpload(c.ctx.db, c.blobStore, row);
  c.ctx.log.debug(
    { event: `upload.${outcome.kind}`, objectId: row.objectId, uploadId: row.id, code: outcome.code },
    `upload ${outcome.kind}`,
  );
  return { objectId: o.objectId, status: outcome.kind, code: outcome.code, message: outcome.message };
}

/** The answer when there is nothing to verify, or undefined (and the upload claimed) when there is. */
function answerAtOnce(
  c: Completion,
  o: CompleteItem,
  row: UploadRow | undefined,
): UploadCompleteResult | undefined {
  if (!row || row.objectId !== o.objectId) {
    return {
      objectId: o.objectId,
      status: 'refused',
      code: 'upload.not_found',
      message: 'no such upload for this object in your group; offer the object again',
    };
  }
  if (c.claimed.has(row.id)) {
    return {
      objectId: o.objectId,
      status: 'retry',
      code: 'upload.incomplete',
      message: 'completed twice in one request',
    };
  }
  c.claimed.add(row.id);
  if (row.state !== 'stored') return undefined;
  const hit = c.stored.get(instanceKey(row.sopInstanceUid, row.sha256));
  return hit
    ? { objectId: o.objectId, status: 'stored', receipt: receiptFor(o.objectId, hit, row.objectSha256) }
    : { objectId: o.objectId, status: 'retry', code: 'upload.incomplete', message: 'offer the object again' };
}

/** Publishes and verifies item `index`; its answer goes to `c.results` unless it awaits its index write. */
export async function prepare(c: Completion, o: CompleteItem, index: number): Promise<Prepared | undefined> {
  const row = c.rowOf.get(o.uploadId);
  const now = answerAtOnce(c, o, row);
  if (now || !row) {
    if (now) c.results[index] = now;
    return undefined;
  }
  try {
    await assembleUpload(c.blobStore, row, c.keys);
    const verified = await verifyObject(c.blobStore, c.keys, row, o.objectSha256);
    if (verified.charset) {
      // Terms and kinds of problem only, never the text.
      c.ctx.log.warn(
        {
          event: 'ingest.charset_lenient',
          objectId: row.objectId,
          specificCharacterSet: verified.charset.terms,
          issues: verified.charset.issues,
        },
        'text of an instance was decoded leniently (unknown character set terms or escapes, or invalid bytes)',
      );
    }
    const record = {
      ...c.agent,
      objectId: row.objectId,
      blobKey: row.blobKey,
      blobOffset: row.blobOffset,
      manifest: verified.manifest,
      metadata: verified.metadata,
      sha256: row.sha256,
      objectSha256: verified.objectSha256,
      plainBytes: row.plainBytes,
      objectBytes: row.objectBytes,
      transportCoding: verified.transport,
    };
    return { index, o, row, verified, record };
  } catch (err) {
    c.results[index] = await settle(c, o, row, err);
    return undefined;
  }
}

/** Studies in one order for every request, so concurrent batches take their locks alike. */
export function studyOrder(a: Prepared, b: Prepared): number {
  const x = a.verified.fields.studyUid;
  const y = b.verified.fields.studyUid;
  return x < y ? -1 : x > y ? 1 : a.index - b.index;
}
