import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { sweepRateLimits } from '../services/rate-limit.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const RATE_LIMIT_SWEEP_INTERVAL_MS = 60_000;

/** Deletes spent rate-limit counters every `intervalMs`; a delete by age is idempotent across replicas. */
export function startRateLimitSweep(opts: { db: Db; log: Logger; intervalMs?: number }): PeriodicJob {
  return startPeriodicJob({
    name: 'rate-limit-sweep',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? RATE_LIMIT_SWEEP_INTERVAL_MS,
    run: async (ctx, log) => {
      const swept = await sweepRateLimits(ctx.db);
      if (swept > 0)
        log.info({ event: 'rate_limits.swept', count: swept }, 'spent rate-limit counters deleted');
    },
  });
}
