import { eq, type SQL, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import { systemCtx } from '../context.js';
import type { Database, Db } from '../db/client.js';
import { facilities, studies } from '../db/schema/index.js';
import { completeStableStudies } from '../ingest/complete-stable-studies.js';
import { JOB_QUEUE_POLLING_SECONDS } from './queue.js';

export const STUDY_COMPLETION_QUEUE = 'study-completion';
/** Told, on commit of a transaction that recorded instances, which studies they went to. */
export const STUDY_RECORDED_CHANNEL = 'ferry_study_recorded';
/** Finished jobs are only a trace: the study's events are the record. */
const JOB_RETENTION_SECONDS = 3600;

interface StudyJobData {
  studyId: string;
}

/**
 * Tells every replica's study-completion queue (on commit, by NOTIFY) that this study took instances:
 * an expression for the RETURNING list of the statement that writes the study anyway, so the notice
 * costs no round trip of its own. Delivered to whatever listens at that moment: a replica that is down
 * misses it, and the slow sweep (study-completion.ts) completes such studies instead.
 */
export function studyRecordedNotice(studyId: string): SQL {
  return sql`pg_notify(${STUDY_RECORDED_CHANNEL}, ${studyId}::text)`;
}

/** When a study still `receiving` will have been stable for its facility's period, or null if it is not receiving. */
async function stableAt(db: Db, studyId: string): Promise<{ at: Date; periodSeconds: number } | null> {
  const [row] = await db
    .select({
      status: studies.status,
      at: sql<string>`greatest(${studies.lastReceivedAt}, ${studies.lastStoredAt}) + make_interval(secs => ${facilities.stablePeriodSeconds})`,
      periodSeconds: facilities.stablePeriodSeconds,
    })
    .from(studies)
    .innerJoin(facilities, eq(facilities.id, studies.facilityId))
    .where(eq(studies.id, studyId));
  if (row?.status !== 'receiving') return null;
  return { at: new Date(row.at), periodSeconds: row.periodSeconds };
}

/**
 * Study completion on the job queue. A recorded instance (by NOTIFY) sends its study a job keyed by the
 * study, in a `short` queue: while one is queued, more sends are dropped, so a burst of instances makes
 * one job. A job completes what is stable (completeStableStudies: the same update as the sweep, SKIP
 * LOCKED and idempotent); if its study is still receiving, it sends the study's next job for when the
 * study will be stable, or one stable period on when something else holds it back (an open upload, a
 * lock). Jobs carry only a study id; completion is the system's, as before.
 */
export async function startStudyCompletionQueue(opts: {
  database: Database;
  boss: PgBoss;
  log: Logger;
}): Promise<{ stop(): Promise<void> }> {
  const { database, boss } = opts;
  const log = opts.log.child({ job: 'study-completion' });
  const db = database.db;
  await boss.createQueue(STUDY_COMPLETION_QUEUE, {
    policy: 'short',
    deleteAfterSeconds: JOB_RETENTION_SECONDS,
  });
  const send = (studyId: string, startAfter?: Date) =>
    boss.send(STUDY_COMPLETION_QUEUE, { studyId } satisfies StudyJobData, {
      singletonKey: studyId,
      ...(startAfter ? { startAfter } : {}),
    });

  let runs = 0;
  const workerId = await boss.work<StudyJobData>(
    STUDY_COMPLETION_QUEUE,
    { pollingIntervalSeconds: JOB_QUEUE_POLLING_SECONDS, batchSize: 100 },
    async (jobs) => {
      runs++;
      const { completed } = await completeStableStudies({
        ctx: systemCtx(db, log, `study-completion-${runs}`),
      });
      if (completed.length > 0)
        log.info({ event: 'studies.completed', count: completed.length }, 'studies complete');
      const now = Date.now();
      for (const { data } of jobs) {
        const next = await stableAt(db, data.studyId);
        if (!next) continue;
        const at = next.at.getTime() > now ? next.at : new Date(now + Math.max(1, next.periodSeconds) * 1000);
        await send(data.studyId, at);
      }
    },
  );

  const unlisten = await database.listen(STUDY_RECORDED_CHANNEL, {
    onPayload: (payload) => {
      for (const studyId of payload.split(',')) {
        if (!studyId) continue;
        send(studyId).catch((err: Error) =>
          log.warn(
            { event: 'study_completion.send_failed', studyId, err: err.message },
            'study completion job not sent: the sweep completes the study',
          ),
        );
      }
    },
  });

  return {
    async stop() {
      await unlisten();
      await boss.offWork(STUDY_COMPLETION_QUEUE, { id: workerId, wait: true });
    },
  };
}
