import type { Logger } from 'pino';
import { pruneAgentTokenUses } from '../auth/agent-token.js';
import type { Db } from '../db/client.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const AGENT_TOKEN_PRUNE_INTERVAL_MS = 60_000;

/**
 * Deletes the replay table's rows of tokens that are refused anyway (expired, too old): without it
 * agent_token_uses grows one row per agent request for ever. A delete by age is idempotent across replicas.
 */
export function startAgentTokenPrune(opts: { db: Db; log: Logger; intervalMs?: number }): PeriodicJob {
  return startPeriodicJob({
    name: 'agent-token-prune',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? AGENT_TOKEN_PRUNE_INTERVAL_MS,
    run: async (ctx, log) => {
      const pruned = await pruneAgentTokenUses(ctx.db);
      if (pruned > 0)
        log.debug({ event: 'agent_token_uses.pruned', count: pruned }, 'spent agent token ids deleted');
    },
  });
}
