import type { Logger } from 'pino';
import { systemCtx } from '../context.js';
import type { Db } from '../db/client.js';
import { expireDiagnostics } from '../services/expire-diagnostics.js';
import { markSilentGatewaysOffline } from '../services/mark-silent-gateways-offline.js';

export interface GatewayLivenessJob {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * A quarter heartbeat, at least 0.25 s. With the silence threshold of 1.5 intervals (see
 * markSilentGatewaysOffline) a silent gateway is marked offline within 1.75 intervals: inside the two
 * the fleet view promises, at any interval.
 */
export function livenessIntervalMs(heartbeatSeconds: number): number {
  return Math.max(250, (heartbeatSeconds * 1000) / 4);
}

/**
 * Marks silent gateways offline and expires unanswered diagnostics, every `intervalMs`, one run at a
 * time on an unref'd timer. Every replica runs it; both services are idempotent and safe concurrently.
 */
export function startGatewayLiveness(opts: {
  db: Db;
  log: Logger;
  heartbeatSeconds: number;
  intervalMs?: number;
}): GatewayLivenessJob {
  const intervalMs = opts.intervalMs ?? livenessIntervalMs(opts.heartbeatSeconds);
  const log = opts.log.child({ job: 'gateway-liveness' });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let runs = 0;

  const run = async () => {
    runs++;
    const ctx = systemCtx(opts.db, log, `gateway-liveness-${runs}`);
    try {
      const { gatewayIds } = await markSilentGatewaysOffline({
        ctx,
        input: { defaultHeartbeatSeconds: opts.heartbeatSeconds },
      });
      for (const gatewayId of gatewayIds)
        log.info({ event: 'gateway.offline', gatewayId, reason: 'silent' }, 'gateway went silent');
      await expireDiagnostics({ ctx });
    } catch (err) {
      log.warn({ event: 'gateway_liveness.failed', err: (err as Error).message }, 'liveness check failed');
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
