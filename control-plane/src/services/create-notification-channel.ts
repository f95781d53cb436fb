import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { type NotificationChannelKind, notificationChannels } from '../db/schema/index.js';
import type { SecretBox } from '../keys/secret-box.js';
import { writeAudit } from './audit.js';
import { checkWebhookUrl } from './create-webhook.js';
import { CHAT_URL_PURPOSE, type NotificationChannelView } from './list-notification-channels.js';
import { requireAdmin } from './permissions.js';

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

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
