import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import type { SecretBox } from '../keys/secret-box.js';
import { deliveryFailureReason } from '../webhooks/delivery-failure.js';
import { SIGNATURE_HEADER, signWebhookBody, WEBHOOK_SECRET_PURPOSE } from '../webhooks/signature.js';
import { type HostLookup, postToWebhookTarget, resolveWebhookTarget } from '../webhooks/webhook-target.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';

/** A receiver gets this long to answer. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Waits after failed attempt 1, 2, …; the last one repeats. */
export const WEBHOOK_RETRY_DELAYS_SECONDS = [5, 30, 120, 600, 3600];
/** After this many failed attempts a delivery is given up (failed_at). */
export const WEBHOOK_MAX_ATTEMPTS = 8;
/** A claimed delivery is not claimed again for this long (a replica that dies mid-send releases it so). */
const CLAIM_SECONDS = 60;
const BATCH = 20;

interface DueDelivery {
  id: string;
  event_key: string;
  event_type: string;
  payload: Record<string, unknown> | string;
  attempts: number;
  webhook_id: string;
  url: string;
  secret: string;
}

/** Where a delivery went, for logs: the origin only (a path or query may hold a receiver's token). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

type SendOutcome = { ok: true } | { ok: false; error: string; detail?: string };

/**
 * One attempt: the URL is checked again (its name may resolve elsewhere since it was created) and
 * the request goes to the addresses checked, within `timeoutMs` in all. A failure is a short reason
 * for the deliveries list and, for the log only, the detail.
 */
async function send(
  d: DueDelivery,
  opts: { timeoutMs: number; allowPrivate: boolean; lookup: HostLookup | undefined },
): Promise<SendOutcome> {
  const body = typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    );
    aborted.catch(() => {});
    const target = await Promise.race([
      resolveWebhookTarget(d.url, {
        allowPrivate: opts.allowPrivate,
        ...(opts.lookup ? { lookup: opts.lookup } : {}),
      }),
      aborted,
    ]);
    // Redirects are not followed: one would re-send a signed alert somewhere the admin did not name.
    const { status } = await postToWebhookTarget(target, {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'ferry-webhooks/1',
        'ferry-event': d.event_type,
        'ferry-delivery': d.event_key,
        [SIGNATURE_HEADER]: signWebhookBody(d.secret, body),
      },
      body,
      signal,
    });
    if (status >= 200 && status < 300) return { ok: true };
    return { ok: false, error: `HTTP ${status}` };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    return {
      ok: false,
      error: deliveryFailureReason(err, { timedOut: signal.aborted }),
      detail: `${String(e.code ?? e.cause?.code ?? '')} ${String(e.message ?? err)}`.trim().slice(0, 300),
    };
  }
}

/**
 * Sends the due deliveries (at most `limit`), each signed with its webhook's secret. They are claimed
 * first (FOR UPDATE SKIP LOCKED, then pushed CLAIM_SECONDS ahead) in a short statement, so no
 * transaction stays open during the HTTP calls and two replicas never send the same one at once.
 * A 2xx answer delivers it; anything else is retried after WEBHOOK_RETRY_DELAYS_SECONDS and given up
 * after WEBHOOK_MAX_ATTEMPTS.
 */
export async function deliverWebhooks({
  ctx,
  input = {},
  deps,
}: {
  ctx: Ctx;
  /** Opens the webhooks' sealed signing secrets. */
  deps: { secrets: SecretBox };
  input?: {
    limit?: number;
    timeoutMs?: number;
    retryDelaysSeconds?: number[];
    /** FERRY_WEBHOOK_ALLOW_PRIVATE: receivers on loopback and private networks are allowed. */
    allowPrivateAddresses?: boolean;
    /** Resolves receivers' host names (default: the system resolver). */
    lookup?: HostLookup;
  };
}): Promise<{ delivered: number; failed: number }> {
  if (ctx.actor.kind !== 'system')
    throw new FerryError('auth.forbidden', 'only the system delivers webhooks');
  const delays = input.retryDelaysSeconds ?? WEBHOOK_RETRY_DELAYS_SECONDS;
  const claimed = rowsOf<DueDelivery>(
    await ctx.db.execute(sql`
      update webhook_deliveries d
      set next_attempt_at = now() + make_interval(secs => ${CLAIM_SECONDS})
      from webhooks w
      where w.id = d.webhook_id and d.id in (
        select id from webhook_deliveries
        where delivered_at is null and failed_at is null and next_attempt_at <= now()
        order by next_attempt_at
        limit ${input.limit ?? BATCH}
        for update skip locked
      )
      returning d.id, d.event_key, d.event_type, d.payload, d.attempts, d.webhook_id, w.url, w.secret
    `),
  ).map((d) => ({ ...d, secret: deps.secrets.open(d.secret, WEBHOOK_SECRET_PURPOSE) }));
  let delivered = 0;
  let failed = 0;
  await Promise.all(
    claimed.map(async (d) => {
      const outcome = await send(d, {
        timeoutMs: input.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
        allowPrivate: input.allowPrivateAddresses ?? false,
        lookup: input.lookup,
      });
      const attempts = Number(d.attempts) + 1;
      const log = {
        webhookId: d.webhook_id,
        deliveryId: d.id,
        type: d.event_type,
        attempts,
        to: origin(d.url),
      };
      if (outcome.ok) {
        delivered++;
        await ctx.db.execute(sql`
          update webhook_deliveries
          set delivered_at = now(), attempts = ${attempts}, last_error = null
          where id = ${d.id}
        `);
        ctx.log.info({ event: 'webhook.delivered', ...log }, 'webhook delivered');
        return;
      }
      failed++;
      const giveUp = attempts >= WEBHOOK_MAX_ATTEMPTS;
      const delay = delays[Math.min(attempts - 1, delays.length - 1)] ?? 60;
      await ctx.db.execute(sql`
        update webhook_deliveries
        set attempts = ${attempts}, last_error = ${outcome.error},
            next_attempt_at = now() + make_interval(secs => ${delay}),
            failed_at = ${giveUp ? sql`now()` : sql`null`}
        where id = ${d.id}
      `);
      ctx.log.warn(
        {
          event: giveUp ? 'webhook.given_up' : 'webhook.retry',
          ...log,
          error: outcome.error,
          detail: outcome.detail,
        },
        giveUp ? 'webhook delivery given up' : 'webhook delivery failed; will retry',
      );
    }),
  );
  return { delivered, failed };
}
