import type { Logger } from 'pino';
import { systemCtx } from '../context.js';
import type { Db } from '../db/client.js';
import { deliverWebhooks } from '../services/deliver-webhooks.js';
import { enqueueWebhookDeliveries } from '../services/enqueue-webhook-deliveries.js';

export const WEBHOOK_DELIVERY_INTERVAL_MS = 1000;

export interface WebhookDeliveryJob {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * The webhook outbox: every `intervalMs` (one run at a time, the next scheduled after the last ends)
 * enqueue what the gateway events call for, then send what is due. Every replica may run it: enqueue
 * is idempotent per (webhook, event) and sending claims rows with SKIP LOCKED. A failed run is logged
 * and retried at the next tick.
 */
export function startWebhookDelivery(opts: { db: Db; log: Logger; intervalMs?: number }): WebhookDeliveryJob {
  const intervalMs = opts.intervalMs ?? WEBHOOK_DELIVERY_INTERVAL_MS;
  const log = opts.log.child({ job: 'webhook-delivery' });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let runs = 0;

  const run = async () => {
    runs++;
    const ctx = systemCtx(opts.db, log, `webhook-delivery-${runs}`);
    try {
      const { enqueued } = await enqueueWebhookDeliveries({ ctx });
      if (enqueued > 0)
        log.info({ event: 'webhooks.enqueued', count: enqueued }, 'webhook deliveries enqueued');
      await deliverWebhooks({ ctx });
    } catch (err) {
      log.warn({ event: 'webhooks.run_failed', err: (err as Error).message }, 'webhook delivery run failed');
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
