/**
 * Adds verified instances to the index (the study path's last step after verify-object.ts): their
 * fields from the control plane's own parse of each header (instance-fields.ts), their studies through
 * the lifecycle (study-lifecycle.ts), many per statement (record-group.ts).
 */
import { FerryError } from '@ferry/shared';
import type { Actor, Ctx } from '../context.js';
import type { Tx } from '../db/client.js';
import { pgErrorCode } from '../db/errors.js';
import { firstForeignFacility } from '../db/queries/ingest-instances.js';
import { insertStudyEvents, type StudyEventRow } from '../db/queries/ingest-studies.js';
import { instanceFieldsOf, receptionOf } from './instance-fields.js';
import { recordGroup } from './record-group.js';
import {
  ConcurrentRecordError,
  type Item,
  type RecordedInstance,
  type RecordInstanceInput,
} from './recorded.js';

export type { RecordedInstance, RecordInstanceInput } from './recorded.js';

const RETRYABLE_SQLSTATES = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 3;

/**
 * True for a failure that running the same transaction again can cure: a unique index that a
 * concurrent record filled first (the same new SOP Instance UID twice), a deadlock, a serialization
 * failure. Callers that pass their own `tx` retry their whole transaction on these.
 */
export function isRetryableRecordError(err: unknown): boolean {
  if (err instanceof ConcurrentRecordError) return true;
  const state = pgErrorCode(err);
  return state !== undefined && RETRYABLE_SQLSTATES.has(state);
}

/** Runs `fn` again (up to three times in all) when a concurrent record got in the way. */
export async function withRecordRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !isRetryableRecordError(err)) throw err;
    }
  }
}

/** Gateways record what they received themselves; the system (and tests) may record for any gateway. */
function checkCaller(actor: Actor, input: RecordInstanceInput): void {
  if (actor.kind === 'system') return;
  if (
    actor.kind === 'agent' &&
    actor.groupId === input.groupId &&
    actor.facilityId === input.facilityId &&
    actor.gatewayId === input.gatewayId
  ) {
    return;
  }
  throw new FerryError('auth.forbidden', 'only the receiving gateway or the system records an instance');
}

function itemOf(input: RecordInstanceInput, index: number): Item {
  return {
    index,
    input,
    d: { ...instanceFieldsOf(input.metadata), ...receptionOf(input.manifest, input.storedAt) },
  };
}

/**
 * Throws `upload.object_invalid` when the instance cannot be recorded whatever the index holds (no
 * Study, Series or SOP Instance UID): callers batching many check each first, so one bad instance does
 * not fail the others' transaction.
 */
export function checkRecordable(input: Pick<RecordInstanceInput, 'metadata'>): void {
  instanceFieldsOf(input.metadata);
}

/** Checks (as the system) that each instance's facility belongs to its group. */
async function checkFacilities(tx: Tx, inputs: RecordInstanceInput[]): Promise<void> {
  const pairs = new Map<string, { facilityId: string; groupId: string }>();
  for (const i of inputs) pairs.set(`${i.facilityId}\0${i.groupId}`, i);
  const missing = await firstForeignFacility(tx, [...pairs.values()]);
  if (missing) throw new FerryError('resource.not_found', `no facility ${missing.facilityId} in this group`);
}

/**
 * Adds verified instances to the index, many per statement: each study (created, or reopened when it
 * was complete) is locked once and updated once, its series upserted together, and the new instances
 * inserted in one statement. An instance whose SOP Instance UID is known with other bytes becomes a new
 * current version (written one by one: rare); the same SOP Instance UID with the same hash is a
 * duplicate and changes nothing. Answers in input order.
 *
 * Runs in its own transaction (retried on isRetryableRecordError), or inside the caller's `tx` when
 * the caller has more to commit with it (complete-uploads marks the uploads stored in the same one);
 * then the caller retries. No audit row: instances are high volume, and the study events and the
 * instance rows themselves are the record.
 */
export async function recordInstances({
  ctx,
  input,
  tx,
}: {
  ctx: Ctx;
  input: RecordInstanceInput[];
  tx?: Tx;
}): Promise<RecordedInstance[]> {
  for (const i of input) checkCaller(ctx.actor, i);
  const items = input.map(itemOf);
  if (items.length === 0) return [];
  const byGroup = new Map<string, Item[]>();
  for (const item of items) {
    const list = byGroup.get(item.input.groupId);
    if (list) list.push(item);
    else byGroup.set(item.input.groupId, [item]);
  }
  const run = async (t: Tx) => {
    if (ctx.actor.kind === 'system') await checkFacilities(t, input);
    const out: RecordedInstance[] = new Array(items.length);
    const events: StudyEventRow[] = [];
    for (const [groupId, groupItems] of byGroup) {
      events.push(...(await recordGroup(t, groupId, groupItems, out)));
    }
    await insertStudyEvents(t, events);
    return out;
  };
  if (tx) return run(tx);
  return withRecordRetries(() => ctx.db.transaction(run));
}
