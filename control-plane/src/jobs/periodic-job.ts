import type { Logger } from 'pino';
import type { Ctx } from '../context.js';
import { systemCtx } from '../context.js';
import type { Db } from '../db/client.js';

export interface PeriodicJob {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `run` every `intervalMs` as the system actor, one run at a time (the next is scheduled after
 * the last ends) on an unref'd timer. Every replica may run the control plane's jobs, so each `run`
 * must be idempotent and claim rows with SKIP LOCKED. A failed run is logged and retried next tick.
 */
export function startPeriodicJob(opts: {
  name: string;
  db: Db;
  log: Logger;
  intervalMs: number;
  run: (ctx: Ctx, log: Logger) => Promise<void>;
}): PeriodicJob {
  const log = opts.log.child({ job: opts.name });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let runs = 0;

  const run = async () => {
    runs++;
    try {
      await opts.run(systemCtx(opts.db, log, `${opts.name}-${runs}`), log);
    } catch (err) {
      log.warn({ event: `${opts.name}.failed`, err: (err as Error).message }, `${opts.name} run failed`);
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule();
      });
    }, opts.intervalMs);
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
