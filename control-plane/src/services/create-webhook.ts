import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { webhooks } from '../db/schema/index.js';
import { newWebhookSecret } from '../webhooks/signature.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

export const WEBHOOK_DEGRADED_AFTER_DEFAULT = 300;
export const WEBHOOK_DEGRADED_AFTER_MIN = 10;
export const WEBHOOK_DEGRADED_AFTER_MAX = 86_400;
export const WEBHOOK_URL_MAX_LENGTH = 2000;

export type WebhookRow = typeof webhooks.$inferSelect;

/** `raw` as an http(s) URL without credentials, or a request.invalid error saying why. */
export function checkWebhookUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FerryError('request.invalid', 'url: must be an absolute http or https URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new FerryError('request.invalid', 'url: must start with https:// or http://');
  // Credentials in the URL would be shown to every reader of the webhook list; the signature is the auth.
  if (url.username || url.password)
    throw new FerryError('request.invalid', 'url: must not carry credentials (deliveries are signed)');
  if (raw.length > WEBHOOK_URL_MAX_LENGTH)
    throw new FerryError('request.invalid', `url: must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`);
  return url.toString();
}

/**
 * Registers an alert endpoint for the caller's group. The returned row carries the signing secret:
 * this is the only time it is shown, so the route passes it on once.
 */
export async function createWebhook({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { url: string; degradedAfterSeconds?: number | undefined };
}): Promise<WebhookRow> {
  const actor = requireAdmin(ctx.actor);
  const url = checkWebhookUrl(input.url);
  const degradedAfterSeconds = input.degradedAfterSeconds ?? WEBHOOK_DEGRADED_AFTER_DEFAULT;
  if (
    !Number.isInteger(degradedAfterSeconds) ||
    degradedAfterSeconds < WEBHOOK_DEGRADED_AFTER_MIN ||
    degradedAfterSeconds > WEBHOOK_DEGRADED_AFTER_MAX
  ) {
    throw new FerryError(
      'request.invalid',
      `degradedAfterSeconds: must be a whole number from ${WEBHOOK_DEGRADED_AFTER_MIN} to ${WEBHOOK_DEGRADED_AFTER_MAX}`,
    );
  }
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(webhooks)
      .values({ groupId: actor.groupId, url, secret: newWebhookSecret(), degradedAfterSeconds })
      .returning();
    await writeAudit(tx, ctx, {
      action: 'webhook.create',
      targetType: 'webhook',
      targetId: row!.id,
      details: { url, degradedAfterSeconds },
    });
    return row!;
  });
}
