import { FerryError } from '@ferry/shared';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { facilities, studies, studyEvents, uploads } from '../db/schema/index.js';

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
 * written by recordInstance is skipped until the next run) and the update only moves `receiving` rows.
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
  const nowSql = sql`${now.toISOString()}::timestamptz`;
  const limit = input.limit ?? DEFAULT_LIMIT;
  return ctx.db.transaction(async (tx) => {
    const due = sql`(
      select s.id from ${studies} s
      join ${facilities} f on f.id = s.facility_id
      where s.status = 'receiving'
        and greatest(s.last_received_at, s.last_stored_at) + make_interval(secs => f.stable_period_seconds) <= ${nowSql}
        and not exists (
          select 1 from ${uploads} u
          where u.group_id = s.group_id
            and u.study_instance_uid = s.study_instance_uid
            and u.state = 'open'
            and u.last_offered_at > ${nowSql} - make_interval(secs => ${ABANDONED_UPLOAD_SECONDS})
        )
      order by s.last_received_at
      limit ${limit}
      for update of s skip locked
    )`;
    const rows = await tx
      .update(studies)
      .set({ status: 'complete', completedAt: now })
      .where(and(inArray(studies.id, due), eq(studies.status, 'receiving')))
      .returning({ studyId: studies.id, groupId: studies.groupId });
    if (rows.length > 0) {
      await tx
        .insert(studyEvents)
        .values(rows.map((r) => ({ studyId: r.studyId, kind: 'completed' as const, at: now })));
    }
    return { completed: rows };
  });
}
