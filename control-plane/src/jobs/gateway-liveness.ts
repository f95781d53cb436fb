import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { advanceUpgradeRollouts } from '../services/advance-upgrade-rollouts.js';
import { expireDiagnostics } from '../services/expire-diagnostics.js';
import { markSilentGatewaysOffline } from '../services/mark-silent-gateways-offline.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export type GatewayLivenessJob = PeriodicJob;

/**
 * A quarter heartbeat, at least 0.25 s. With the silence threshold of 1.5 intervals (see
 * markSilentGatewaysOffline) a silent gateway is marked offline within 1.75 intervals: inside the two
 * the fleet view promises, for any interval of 1 s or more.
 */
export function livenessIntervalMs(heartbeatSeconds: number): number {
  return Math.max(250, (heartbeatSeconds * 1000) / 4);
}

/**
 * Marks silent gateways offline and expires unanswered diagnostics, every `intervalMs`. Both services
 * are idempotent and safe on several replicas at once.
 */
export function startGatewayLiveness(opts: {
  db: Db;
  log: Logger;
  heartbeatSeconds: number;
  intervalMs?: number;
}): GatewayLivenessJob {
  return startPeriodicJob({
    name: 'gateway-liveness',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? livenessIntervalMs(opts.heartbeatSeconds),
    run: async (ctx, log) => {
      const { gatewayIds } = await markSilentGatewaysOffline({
        ctx,
        input: { defaultHeartbeatSeconds: opts.heartbeatSeconds },
      });
      for (const gatewayId of gatewayIds)
        log.info({ event: 'gateway.offline', gatewayId, reason: 'silent' }, 'gateway went silent');
      await expireDiagnostics({ ctx });
      const rollouts = await advanceUpgradeRollouts({ ctx });
      for (const id of rollouts.done)
        log.info(
          { event: 'upgrade.rollout_done', rolloutId: id },
          'canary back: the rest were sent the release',
        );
      for (const id of rollouts.failed)
        log.warn(
          { event: 'upgrade.rollout_failed', rolloutId: id },
          'the canary did not come back: rollout stopped',
        );
    },
  });
}
