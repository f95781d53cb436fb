import { asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { webhooks } from '../db/schema/index.js';
import { requireAdmin } from './permissions.js';

/** A webhook as listed: never its secret. */
export interface WebhookView {
  id: string;
  url: string;
  degradedAfterSeconds: number;
  createdAt: Date;
}

/** The caller's group's webhooks, oldest first (admins only: the URLs can point inside the network). */
export async function listWebhooks({ ctx }: { ctx: Ctx; input?: undefined }): Promise<WebhookView[]> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db
    .select({
      id: webhooks.id,
      url: webhooks.url,
      degradedAfterSeconds: webhooks.degradedAfterSeconds,
      createdAt: webhooks.createdAt,
    })
    .from(webhooks)
    .where(eq(webhooks.groupId, actor.groupId))
    .orderBy(asc(webhooks.createdAt), asc(webhooks.id));
}
