import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { notificationChannels } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/** Removes a channel of the caller's group; its pending notices are dropped with it. */
export async function deleteNotificationChannel({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<void> {
  const actor = requireAdmin(ctx.actor);
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .delete(notificationChannels)
      .where(and(eq(notificationChannels.groupId, actor.groupId), eq(notificationChannels.id, input.id)))
      .returning({
        id: notificationChannels.id,
        kind: notificationChannels.kind,
        label: notificationChannels.label,
      });
    if (!row) throw new FerryError('resource.not_found', `no notification channel ${input.id} in your group`);
    await writeAudit(tx, ctx, {
      action: 'notification_channel.delete',
      targetType: 'notification_channel',
      targetId: row.id,
      details: { kind: row.kind, label: row.label },
    });
  });
}
