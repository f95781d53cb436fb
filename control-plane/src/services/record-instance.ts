import type { Ctx } from '../context.js';
import type { Tx } from '../db/client.js';
import { type RecordedInstance, type RecordInstanceInput, recordInstances } from '../ingest/record-instances.js';

export {
  checkRecordable,
  isRetryableRecordError,
  type RecordedInstance,
  type RecordInstanceInput,
} from '../ingest/record-instances.js';

/**
 * Adds one verified instance to the index: its study (created, or reopened when it was complete), its
 * series and the instance itself, as a new version when the SOP Instance UID is known with other bytes.
 * The same SOP Instance UID with the same hash is a duplicate and changes nothing.
 *
 * A batch of one (see recordInstances, which complete-uploads uses): its own transaction, retried on
 * isRetryableRecordError, or the caller's `tx`, which the caller then retries.
 */
export async function recordInstance({
  ctx,
  input,
  tx,
}: {
  ctx: Ctx;
  input: RecordInstanceInput;
  tx?: Tx;
}): Promise<RecordedInstance> {
  const [recorded] = await recordInstances({ ctx, input: [input], ...(tx ? { tx } : {}) });
  if (!recorded) throw new Error('recordInstances answered nothing');
  return recorded;
}
