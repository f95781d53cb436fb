import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { webhooks } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/** Removes a webhook of the caller's group with its deliveries (pending ones are not sent). */
export async function deleteWebhook({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<void> {
  const actor = requireAdmin(ctx.actor);
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .delete(webhooks)
      .where(and(eq(webhooks.groupId, actor.groupId), eq(webhooks.id, input.id)))
      .returning({ id: webhooks.id, url: webhooks.url });
    if (!row) throw new FerryError('resource.not_found', `no webhook ${input.id} in your group`);
    await writeAudit(tx, ctx, {
      action: 'webhook.delete',
      targetType: 'webhook',
      targetId: row.id,
      details: { url: row.url },
    });
  });
}
