import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { SecretBox } from '../keys/secret-box.js';
import { deliverWebhooks } from '../services/deliver-webhooks.js';
import { enqueueWebhookDeliveries } from '../services/enqueue-webhook-deliveries.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const WEBHOOK_DELIVERY_INTERVAL_MS = 1000;

export type WebhookDeliveryJob = PeriodicJob;

/**
 * The webhook outbox: every `intervalMs` enqueue what the gateway events call for, then send what is
 * due. Enqueue is idempotent per (webhook, event) and sending claims rows with SKIP LOCKED.
 */
export function startWebhookDelivery(opts: {
  db: Db;
  log: Logger;
  /** Opens the webhooks' sealed signing secrets. */
  secrets: SecretBox;
  intervalMs?: number;
  /** FERRY_WEBHOOK_ALLOW_PRIVATE. */
  allowPrivateAddresses?: boolean;
}): WebhookDeliveryJob {
  return startPeriodicJob({
    name: 'webhook-delivery',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? WEBHOOK_DELIVERY_INTERVAL_MS,
    run: async (ctx, log) => {
      const { enqueued } = await enqueueWebhookDeliveries({ ctx });
      if (enqueued > 0)
        log.info({ event: 'webhooks.enqueued', count: enqueued }, 'webhook deliveries enqueued');
      await deliverWebhooks({
        ctx,
        input: { allowPrivateAddresses: opts.allowPrivateAddresses ?? false },
        deps: { secrets: opts.secrets },
      });
    },
  });
}
