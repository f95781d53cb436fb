/**
 * Sorts an offer's objects by what the cloud already has of each: answered now (stored, refused), a
 * new upload to start, an open one to resume, or a stored one whose instance left the index to reopen.
 */
import type { ErrorCode, UploadOfferObject, UploadOfferResult } from '@ferry/shared';
import { instanceKey, type StoredInstanceRef } from '../db/queries/ingest-instances.js';
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import { MAX_UPLOAD_PARTS, partCount, receiptFor } from './upload-store.js';

export function refusal(objectId: string, code: ErrorCode, message: string): UploadOfferResult {
  return { objectId, status: 'refused', code, message };
}

function sameClaims(o: UploadOfferObject, row: UploadRow): boolean {
  return (
    row.sopInstanceUid === o.sopInstanceUid &&
    row.sha256 === o.sha256 &&
    row.plainBytes === o.plainBytes &&
    row.objectBytes === o.objectBytes
  );
}

export interface Triage {
  /** Answers by object position; holes for the objects still to handle. */
  results: (UploadOfferResult | undefined)[];
  toCreate: { i: number; o: UploadOfferObject }[];
  toResume: { i: number; row: UploadRow }[];
  toReopen: { i: number; row: UploadRow }[];
}

/** Refuses an object id offered twice in the request; answers the set of ids offered. */
export function refuseRepeats(objects: UploadOfferObject[], results: Triage['results']): Set<string> {
  const seen = new Set<string>();
  objects.forEach((o, i) => {
    if (seen.has(o.objectId)) {
      results[i] = refusal(o.objectId, 'request.invalid', 'this object id is offered twice in one request');
    }
    seen.add(o.objectId);
  });
  return seen;
}

/** What to do with one object that has no answer yet. */
function triageOne(
  t: Triage,
  i: number,
  o: UploadOfferObject,
  row: UploadRow | undefined,
  hit: StoredInstanceRef | undefined,
  partBytes: number,
): void {
  if (hit) {
    const verified = row?.state === 'stored' && row.sha256 === o.sha256 ? row.objectSha256 : null;
    t.results[i] = { objectId: o.objectId, status: 'stored', receipt: receiptFor(o.objectId, hit, verified) };
  } else if (!row) {
    if (partCount(o.objectBytes, partBytes) > MAX_UPLOAD_PARTS) {
      t.results[i] = refusal(
        o.objectId,
        'request.too_large',
        `an object may have at most ${MAX_UPLOAD_PARTS} parts of ${partBytes} bytes`,
      );
    } else {
      t.toCreate.push({ i, o });
    }
  } else if (!sameClaims(o, row)) {
    t.results[i] = refusal(
      o.objectId,
      'resource.conflict',
      'this object id was offered before with another SOP Instance UID, hash or size',
    );
  } else if (row.state === 'stored') {
    // Stored once, but its instance is gone from the index (deleted since): take it again.
    t.toReopen.push({ i, row });
  } else {
    t.toResume.push({ i, row });
  }
}

/** Sorts the objects without an answer in `results` (which the triage then fills). */
export function triage(
  objects: UploadOfferObject[],
  results: Triage['results'],
  rowOf: Map<string, UploadRow>,
  stored: Map<string, StoredInstanceRef>,
  partBytes: number,
): Triage {
  const t: Triage = { results, toCreate: [], toResume: [], toReopen: [] };
  objects.forEach((o, i) => {
    if (results[i]) return;
    const hit = stored.get(instanceKey(o.sopInstanceUid, o.sha256));
    triageOne(t, i, o, rowOf.get(o.objectId), hit, partBytes);
  });
  return t;
}
