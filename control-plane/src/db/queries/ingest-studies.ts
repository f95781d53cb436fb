/** The study lifecycle's SQL (ingest/study-lifecycle.ts, ingest/complete-stable-studies.ts). */
import { and, eq, getTableColumns, inArray, type SQL, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Tx } from '../client.js';
import { facilities, instances, series, studies, studyEvents, uploads } from '../schema/index.js';

export type StudyRow = typeof studies.$inferSelect;
export type StudyValues = typeof studies.$inferInsert;
export type StudyEventRow = typeof studyEvents.$inferInsert;

/**
 * Inserts the studies, or locks the existing rows of the same group and UID (left as they are), in
 * the order given. `inserted` says which this statement made.
 */
export async function insertOrLockStudies(
  tx: Tx,
  rows: StudyValues[],
): Promise<(StudyRow & { inserted: boolean })[]> {
  return tx
    .insert(studies)
    .values(rows)
    .onConflictDoUpdate({
      target: [studies.groupId, studies.studyInstanceUid],
      set: { studyInstanceUid: sql`excluded.study_instance_uid` },
    })
    .returning({ ...getTableColumns(studies), inserted: sql<boolean>`(xmax = 0)` });
}

/** Recounts a study's current instances, series and modalities (the study row is locked). */
export function studyCounts(studyId: string) {
  return {
    instanceCount: sql<number>`(select count(*)::int from ${instances} where ${instances.studyId} = ${studyId} and ${instances.current})`,
    seriesCount: sql<number>`(select count(distinct ${instances.seriesId})::int from ${instances} where ${instances.studyId} = ${studyId} and ${instances.current})`,
    modalities: sql<
      string[]
    >`coalesce((select array_agg(distinct s.modality order by s.modality) from ${series} s where s.study_id = ${studyId} and s.modality is not null and exists (select 1 from ${instances} i where i.series_id = s.id and i.current)), '{}'::text[])`,
  };
}

/**
 * The counts after adding current instances, without counting rows: the study row is locked, so
 * concurrent records of the same study take turns and each sees the last one's counts.
 */
export function studyCountsPlus(added: number, newSeries: number, modalities: string[]) {
  return {
    instanceCount: sql<number>`${studies.instanceCount} + ${added}`,
    seriesCount: sql<number>`${studies.seriesCount} + ${newSeries}`,
    modalities:
      modalities.length === 0
        ? sql<string[]>`${studies.modalities}`
        : sql<
            string[]
          >`(select coalesce(array_agg(distinct m order by m), '{}'::text[]) from unnest(${studies.modalities} || array[${sql.join(
            modalities.map((m) => sql`${m}::text`),
            sql`, `,
          )}]) m)`,
  };
}

export type StudyUpdate = PgUpdateSetSource<typeof studies>;

/** `also`: an expression the same statement evaluates once the row is written (e.g. a NOTIFY). */
export async function updateStudy(tx: Tx, studyId: string, set: StudyUpdate, also?: SQL): Promise<void> {
  const update = tx.update(studies).set(set).where(eq(studies.id, studyId));
  if (also) await update.returning({ also });
  else await update;
}

export async function deleteStudy(tx: Tx, studyId: string): Promise<void> {
  await tx.delete(studies).where(eq(studies.id, studyId));
}

export async function insertStudyEvents(tx: Tx, events: StudyEventRow[]): Promise<void> {
  if (events.length > 0) await tx.insert(studyEvents).values(events);
}

/**
 * Marks `complete` (with a `completed` event) at most `limit` studies still `receiving` whose
 * facility's stable period has passed since their last instance, both as received and as stored, and
 * that have no open upload offered within `abandonedSeconds`. Rows are claimed with FOR UPDATE SKIP
 * LOCKED: a study being written is skipped until the next run.
 */
export async function completeDueStudies(
  tx: Tx,
  opts: { now: Date; limit: number; abandonedSeconds: number },
): Promise<{ studyId: string; groupId: string }[]> {
  const { now, limit, abandonedSeconds } = opts;
  const nowSql = sql`${now.toISOString()}::timestamptz`;
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
          and u.last_offered_at > ${nowSql} - make_interval(secs => ${abandonedSeconds})
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
  await insertStudyEvents(
    tx,
    rows.map((r) => ({ studyId: r.studyId, kind: 'completed' as const, at: now })),
  );
  return rows;
}
