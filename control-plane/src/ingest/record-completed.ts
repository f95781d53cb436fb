/**
 * The index write of completed uploads: in batches, each one transaction that marks its uploads stored
 * and records their instances (so many small instances share a commit), then the answers.
 */
import { FerryError, mapLimit, type UploadCompleteResult } from '@ferry/shared';
import {
  instanceKey,
  type StoredInstanceRef,
  storedInstancesBySopAndHash,
} from '../db/queries/ingest-instances.js';
import { markStored } from '../db/queries/ingest-uploads.js';
import { type Completion, type Prepared, settle } from './completion.js';
import { type RecordedInstance, recordInstances, withRecordRetries } from './record-instances.js';
import { receiptFor, STORE_CONCURRENCY, storage } from './upload-store.js';

/**
 * Verified objects recorded per transaction: one commit, one turn at each study's lock and a handful
 * of statements for all of them (recordInstances), short enough not to hold a study's lock for long.
 */
const RECORD_BATCH = 200;

/**
 * One transaction: mark the batch's uploads stored (one statement) and record their instances.
 * Undefined where another complete of the same upload won.
 */
function recordBatch(c: Completion, batch: Prepared[], storedAt: Date) {
  return c.ctx.db.transaction(async (tx) => {
    const verified = batch.map((p) => ({ id: p.row.id, objectSha256: p.verified.objectSha256 }));
    const won = await markStored(tx, verified, storedAt);
    const mine = batch.filter((p) => won.has(p.row.id));
    const recorded = await recordInstances({
      ctx: c.ctx,
      tx,
      input: mine.map((p) => ({ ...p.record, storedAt })),
    });
    const byUpload = new Map(mine.map((p, k) => [p.row.id, recorded[k]]));
    return batch.map((p) => byUpload.get(p.row.id));
  });
}

async function answer(
  c: Completion,
  p: Prepared,
  recorded: RecordedInstance | undefined,
  again: Map<string, StoredInstanceRef>,
): Promise<UploadCompleteResult> {
  const { o, row, verified } = p;
  if (!recorded) {
    const hit = again.get(instanceKey(row.sopInstanceUid, row.sha256));
    if (hit) {
      return {
        objectId: o.objectId,
        status: 'stored',
        receipt: receiptFor(o.objectId, hit, verified.objectSha256),
      };
    }
    return {
      objectId: o.objectId,
      status: 'retry',
      code: 'upload.incomplete',
      message: 'a concurrent complete of this upload did not finish; offer it again',
    };
  }
  if (recorded.receipt.duplicate && row.blobOffset === null) {
    // The group holds these exact bytes under another object: this copy is not referenced. (A pack's
    // blob holds other members too: it goes once no member is referenced, jobs/pack-blob-sweep.ts.)
    await storage('delete an object', () => c.blobStore.delete(row.blobKey)).catch(() => {});
  }
  c.ctx.log.debug(
    {
      event: 'upload.stored',
      objectId: row.objectId,
      uploadId: row.id,
      instanceId: recorded.instanceId,
      studyId: recorded.studyId,
      version: recorded.version,
      duplicate: recorded.receipt.duplicate,
    },
    'upload stored',
  );
  // A duplicate's receipt names this object's verified hash, not the copy the group keeps.
  return {
    objectId: o.objectId,
    status: 'stored',
    receipt: { ...recorded.receipt, objectSha256: verified.objectSha256 },
  };
}

/** The answers for a recorded batch: lookups for the ones another complete took, in one query. */
async function answerBatch(c: Completion, batch: Prepared[], recorded: (RecordedInstance | undefined)[]) {
  const lost = batch.filter((_, k) => !recorded[k]);
  const again =
    lost.length > 0
      ? await storedInstancesBySopAndHash(
          c.ctx.db,
          c.agent.groupId,
          lost.map((p) => p.row.sopInstanceUid),
        )
      : new Map<string, StoredInstanceRef>();
  await mapLimit([...batch.entries()], STORE_CONCURRENCY, async ([k, p]) => {
    c.results[p.index] = await answer(c, p, recorded[k], again);
  });
}

/** Records the verified objects (in the order given) and puts their answers into `c.results`. */
export async function recordCompleted(c: Completion, prepared: Prepared[]): Promise<void> {
  for (let at = 0; at < prepared.length; at += RECORD_BATCH) {
    const batch = prepared.slice(at, at + RECORD_BATCH);
    let recorded: (RecordedInstance | undefined)[];
    try {
      recorded = await withRecordRetries(() => recordBatch(c, batch, new Date()));
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      // An object the checks before let through failed the batch: record them one by one.
      for (const p of batch) {
        try {
          await answerBatch(c, [p], await withRecordRetries(() => recordBatch(c, [p], new Date())));
        } catch (e) {
          c.results[p.index] = await settle(c, p.o, p.row, e);
        }
      }
      continue;
    }
    await answerBatch(c, batch, recorded);
  }
}
