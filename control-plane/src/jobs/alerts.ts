import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { SecretBox } from '../keys/secret-box.js';
import { deliverAlertNotifications } from '../services/deliver-alert-notifications.js';
import { syncAlerts } from '../services/sync-alerts.js';
import type { AlertMailer } from '../webhooks/smtp-mailer.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const ALERTS_INTERVAL_MS = 1000;

/**
 * Alerts without a request: every `intervalMs` bring the episodes in line with the gateways'
 * conditions (the liveness job has already turned silent ones offline), then send the notices due.
 */
export function startAlerts(opts: {
  db: Db;
  log: Logger;
  secrets: SecretBox;
  mailer: AlertMailer | null;
  consoleUrl: string;
  allowPrivateAddresses?: boolean;
  intervalMs?: number;
  quietSeconds?: number;
}): PeriodicJob {
  return startPeriodicJob({
    name: 'alerts',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? ALERTS_INTERVAL_MS,
    run: async (ctx, log) => {
      const r = await syncAlerts({
        ctx,
        input: opts.quietSeconds === undefined ? {} : { quietSeconds: opts.quietSeconds },
      });
      if (r.opened + r.closed > 0)
        log.info({ event: 'alerts.synced', opened: r.opened, closed: r.closed }, 'alerts changed');
      await deliverAlertNotifications({
        ctx,
        input: { consoleUrl: opts.consoleUrl, allowPrivateAddresses: opts.allowPrivateAddresses ?? false },
        deps: { secrets: opts.secrets, mailer: opts.mailer },
      });
    },
  });
}
