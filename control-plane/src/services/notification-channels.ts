import { FerryError } from '@ferry/shared';
import { and, asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type NotificationChannelKind, notificationChannels } from '../db/schema/index.js';
import type { SecretBox } from '../keys/secret-box.js';
import { writeAudit } from './audit.js';
import { checkWebhookUrl } from './create-webhook.js';
import { requireAdmin } from './permissions.js';

/** The sealing purpose of a chat channel's URL (it carries the receiver's token in its path). */
export const CHAT_URL_PURPOSE = 'notification-channel-url';

export interface NotificationChannelView {
  id: string;
  kind: NotificationChannelKind;
  /** The e-mail address, or the chat URL's origin (the rest of it is a credential). */
  label: string;
  createdAt: Date;
}

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

/** The caller's group's e-mail and chat channels, oldest first (admins only). */
export async function listNotificationChannels({
  ctx,
}: {
  ctx: Ctx;
  input?: undefined;
}): Promise<NotificationChannelView[]> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db
    .select({
      id: notificationChannels.id,
      kind: notificationChannels.kind,
      label: notificationChannels.label,
      createdAt: notificationChannels.createdAt,
    })
    .from(notificationChannels)
    .where(eq(notificationChannels.groupId, actor.groupId))
    .orderBy(asc(notificationChannels.createdAt), asc(notificationChannels.id));
}

/**
 * Adds where the group's alerts go: an e-mail address, or a Slack/Teams incoming-webhook URL (sealed
 * at rest, listed by its origin). Alerts that open from now on are notified there.
 */
export async function createNotificationChannel({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: { kind: NotificationChannelKind; target: string };
  deps: { secrets: SecretBox };
}): Promise<NotificationChannelView> {
  const actor = requireAdmin(ctx.actor);
  const raw = input.target.trim();
  let target: string;
  let label: string;
  if (input.kind === 'email') {
    if (raw.length > 254 || !EMAIL.test(raw))
      throw new FerryError('request.invalid', 'target: must be one e-mail address, like oncall@example.org');
    target = raw.toLowerCase();
    label = target;
  } else {
    const url = checkWebhookUrl(raw);
    target = deps.secrets.seal(url, CHAT_URL_PURPOSE);
    label = new URL(url).origin;
  }
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(notificationChannels)
      .values({ groupId: actor.groupId, kind: input.kind, target, label })
      .returning();
    if (!row) throw new Error('insert returned no row');
    await writeAudit(tx, ctx, {
      action: 'notification_channel.create',
      targetType: 'notification_channel',
      targetId: row.id,
      details: { kind: row.kind, label },
    });
    return { id: row.id, kind: row.kind, label: row.label, createdAt: row.createdAt };
  });
}

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
