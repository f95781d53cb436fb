import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { pruneSeries, rollUpSeriesHours } from '../db/queries/gateway-series.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const SERIES_ROLLUP_INTERVAL_MS = 5 * 60_000;

/**
 * Keeps each gateway's series bounded: folds the minute buckets of the last two hours into hour
 * buckets (so an hour is final once the next one has been rolled at least once), then deletes minute
 * buckets older than 24 h and hour buckets older than 7 days. Both steps are idempotent across replicas.
 */
export async function rollUpAndPruneSeries(
  db: Db,
  now = new Date(),
): Promise<{ hours: number; pruned: number }> {
  const hours = await rollUpSeriesHours(db, new Date(now.getTime() - 2 * 3600_000));
  const pruned = await pruneSeries(db, now);
  return { hours, pruned };
}

export function startGatewaySeriesRollup(opts: { db: Db; log: Logger; intervalMs?: number }): PeriodicJob {
  return startPeriodicJob({
    name: 'gateway-series-rollup',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? SERIES_ROLLUP_INTERVAL_MS,
    run: async (ctx, log) => {
      const { hours, pruned } = await rollUpAndPruneSeries(ctx.db);
      log.debug({ event: 'gateway_series.rolled_up', hours, pruned }, 'gateway series rolled up and pruned');
    },
  });
}
