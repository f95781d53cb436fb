import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { webhooks } from '../db/schema/index.js';
import type { SecretBox } from '../keys/secret-box.js';
import { newWebhookSecret, WEBHOOK_SECRET_PURPOSE } from '../webhooks/signature.js';
import { type HostLookup, resolveWebhookTarget } from '../webhooks/webhook-target.js';
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

/** How long creation waits for the receiver's name to resolve. */
const CREATE_LOOKUP_TIMEOUT_MS = 3000;

/**
 * Refuses at once a URL that names or resolves to an address deliveries may not go to
 * (webhook.url_not_allowed). A name that does not resolve (yet) is accepted: every delivery checks
 * the address again before it connects, so this is the early answer, not the guard.
 */
async function checkWebhookAddress(
  url: string,
  policy: { allowPrivate: boolean; lookup?: HostLookup | undefined },
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CREATE_LOOKUP_TIMEOUT_MS);
  });
  try {
    await Promise.race([
      resolveWebhookTarget(url, {
        allowPrivate: policy.allowPrivate,
        ...(policy.lookup ? { lookup: policy.lookup } : {}),
      }),
      timedOut,
    ]);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    // Not resolvable now: the delivery's own check decides.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Registers an alert endpoint for the caller's group. The returned row carries the signing secret:
 * this is the only time it is shown, so the route passes it on once.
 */
export async function createWebhook({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  /** The secret is stored sealed with the key file's key; the caller gets it in the clear once. */
  deps: { secrets: SecretBox };
  input: {
    url: string;
    degradedAfterSeconds?: number | undefined;
    /** FERRY_WEBHOOK_ALLOW_PRIVATE: loopback and private receivers are allowed (on-prem installs). */
    allowPrivateAddresses: boolean;
    /** Resolves the receiver's host name (default: the system resolver). */
    lookup?: HostLookup | undefined;
  };
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
  await checkWebhookAddress(url, { allowPrivate: input.allowPrivateAddresses, lookup: input.lookup });
  const secret = newWebhookSecret();
  const sealed = deps.secrets.seal(secret, WEBHOOK_SECRET_PURPOSE);
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(webhooks)
      .values({ groupId: actor.groupId, url, secret: sealed, degradedAfterSeconds })
      .returning();
    await writeAudit(tx, ctx, {
      action: 'webhook.create',
      targetType: 'webhook',
      targetId: row!.id,
      details: { url, degradedAfterSeconds },
    });
    return { ...row!, secret };
  });
}
