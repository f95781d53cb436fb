import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { completeStableStudies } from '../ingest/complete-stable-studies.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

/**
 * The safety net under the job queue (queue-study-completion.ts), which completes studies on time: it
 * catches a study whose job was lost (recorded while no control plane listened, or before the queue).
 */
export const STUDY_COMPLETION_SWEEP_INTERVAL_MS = 30_000;

export type StudyCompletionJob = PeriodicJob;

/** Runs completeStableStudies every `intervalMs`; its update is idempotent and claims rows with SKIP LOCKED. */
export function startStudyCompletion(opts: { db: Db; log: Logger; intervalMs?: number }): StudyCompletionJob {
  return startPeriodicJob({
    name: 'study-completion',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? STUDY_COMPLETION_SWEEP_INTERVAL_MS,
    run: async (ctx, log) => {
      const { completed } = await completeStableStudies({ ctx });
      if (completed.length > 0)
        log.info({ event: 'studies.completed', count: completed.length }, 'studies complete');
    },
  });
}
