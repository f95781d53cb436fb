import { asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type NotificationChannelKind, notificationChannels } from '../db/schema/index.js';
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
