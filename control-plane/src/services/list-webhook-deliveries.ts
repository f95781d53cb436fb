import { FerryError } from '@ferry/shared';
import { and, desc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { webhookDeliveries, webhooks } from '../db/schema/index.js';
import { shownDeliveryError } from '../webhooks/delivery-failure.js';
import { requireAdmin } from './permissions.js';

export const WEBHOOK_DELIVERIES_LIMIT = 100;

export interface WebhookDeliveryView {
  id: string;
  eventKey: string;
  eventType: string;
  payload: Record<string, unknown>;
  attempts: number;
  nextAttemptAt: Date;
  deliveredAt: Date | null;
  failedAt: Date | null;
  lastError: string | null;
  createdAt: Date;
}

/** The most recent deliveries of one webhook of the caller's group, newest first. */
export async function listWebhookDeliveries({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<WebhookDeliveryView[]> {
  const actor = requireAdmin(ctx.actor);
  const [hook] = await ctx.db
    .select({ id: webhooks.id })
    .from(webhooks)
    .where(and(eq(webhooks.groupId, actor.groupId), eq(webhooks.id, input.id)));
  if (!hook) throw new FerryError('resource.not_found', `no webhook ${input.id} in your group`);
  const rows = await ctx.db
    .select({
      id: webhookDeliveries.id,
      eventKey: webhookDeliveries.eventKey,
      eventType: webhookDeliveries.eventType,
      payload: webhookDeliveries.payload,
      attempts: webhookDeliveries.attempts,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
      deliveredAt: webhookDeliveries.deliveredAt,
      failedAt: webhookDeliveries.failedAt,
      lastError: webhookDeliveries.lastError,
      createdAt: webhookDeliveries.createdAt,
    })
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, hook.id))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(WEBHOOK_DELIVERIES_LIMIT);
  // Rows written before failures were stored as short reasons may hold errno-level detail.
  return rows.map((r) => ({ ...r, lastError: shownDeliveryError(r.lastError) }));
}
