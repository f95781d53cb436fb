import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { completeDueStudies } from '../db/queries/ingest-studies.js';

/** An open upload not offered again for this long is abandoned: it no longer holds its study back. */
export const ABANDONED_UPLOAD_SECONDS = 3600;
const DEFAULT_LIMIT = 500;

export interface CompletedStudy {
  studyId: string;
  groupId: string;
}

/**
 * Marks `complete` (with a `completed` event) every study still `receiving` whose facility's stable
 * period has passed since its last instance, both as received at the gateway and as stored here, and
 * that has no open upload in its group (offers name their study). Counting from the later of the two
 * keeps a study that a gateway ships from a backlog, long after receiving it, from completing between
 * two upload batches.
 *
 * Safe to run on every replica at once: rows are claimed with FOR UPDATE SKIP LOCKED (a study being
 * written by recordInstances is skipped until the next run) and the update only moves `receiving` rows.
 * The system runs it (server.ts, every 2 s); at most `limit` studies per call.
 */
export async function completeStableStudies({
  ctx,
  input = {},
}: {
  ctx: Ctx;
  input?: { now?: Date; limit?: number };
}): Promise<{ completed: CompletedStudy[] }> {
  if (ctx.actor.kind !== 'system')
    throw new FerryError('auth.forbidden', 'only the system completes studies');
  const now = input.now ?? new Date();
  const limit = input.limit ?? DEFAULT_LIMIT;
  const completed = await ctx.db.transaction((tx) =>
    completeDueStudies(tx, { now, limit, abandonedSeconds: ABANDONED_UPLOAD_SECONDS }),
  );
  return { completed };
}
