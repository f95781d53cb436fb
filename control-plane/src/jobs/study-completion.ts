import type { Logger } from 'pino';
import { systemCtx } from '../context.js';
import type { Db } from '../db/client.js';
import { completeStableStudies } from '../services/complete-stable-studies.js';

export const STUDY_COMPLETION_INTERVAL_MS = 2000;

export interface StudyCompletionJob {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs completeStableStudies every `intervalMs` (one run at a time, the next scheduled after the last
 * ends) on an unref'd timer. Every replica may run it: the update is idempotent and claims rows with
 * SKIP LOCKED. A failed run is logged and retried at the next tick.
 */
export function startStudyCompletion(opts: { db: Db; log: Logger; intervalMs?: number }): StudyCompletionJob {
  const intervalMs = opts.intervalMs ?? STUDY_COMPLETION_INTERVAL_MS;
  const log = opts.log.child({ job: 'study-completion' });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let runs = 0;

  const run = async () => {
    runs++;
    try {
      const { completed } = await completeStableStudies({
        ctx: systemCtx(opts.db, log, `study-completion-${runs}`),
      });
      if (completed.length > 0) {
        log.info({ event: 'studies.completed', count: completed.length }, 'studies complete');
      }
    } catch (err) {
      log.warn(
        { event: 'studies.completion_failed', err: (err as Error).message },
        'study completion failed',
      );
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
