import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import type { SecretBox } from '../keys/secret-box.js';
import { postChatMessage } from '../webhooks/chat-message.js';
import { deliveryFailureReason } from '../webhooks/delivery-failure.js';
import type { AlertMailer } from '../webhooks/smtp-mailer.js';
import type { HostLookup } from '../webhooks/webhook-target.js';
import {
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_SECONDS,
  WEBHOOK_TIMEOUT_MS,
} from './deliver-webhooks.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';
import { CHAT_URL_PURPOSE } from './list-notification-channels.js';

const CLAIM_SECONDS = 60;
const BATCH = 20;

interface Due {
  id: string;
  kind: 'opened' | 'recovered';
  attempts: number;
  channel_kind: 'email' | 'chat';
  target: string;
  code: string;
  severity: string;
  message: string;
  since: Date | string;
  cleared_at: Date | string | null;
  gateway_id: string;
  hostname: string;
  facility_name: string;
}

/** The one text both e-mail and chat carry: what, where, since when, and the gateway's page. */
export function alertText(d: Due, consoleUrl: string): { subject: string; text: string } {
  const where = `${d.hostname} (${d.facility_name})`;
  const since = new Date(d.since).toISOString();
  const link = `${consoleUrl.replace(/\/$/, '')}/gateways/${d.gateway_id}`;
  if (d.kind === 'opened') {
    const subject = `[Ferry] ${d.severity.toUpperCase()} ${d.code} on ${where}`;
    return { subject, text: `${subject}\n${d.message}\nSince ${since}.\n${link}` };
  }
  const cleared = d.cleared_at ? new Date(d.cleared_at).toISOString() : 'now';
  const subject = `[Ferry] RECOVERED ${d.code} on ${where}`;
  return { subject, text: `${subject}\nThe condition since ${since} cleared at ${cleared}.\n${link}` };
}

/**
 * Sends the due alert notices (e-mail over FERRY_SMTP_URL, chat as {text}), claimed with SKIP LOCKED
 * and pushed ahead first so no transaction stays open during a send and two replicas never send one
 * twice. A sent notice is marked delivered and never sent again, restart or not; a failed one is
 * retried on the webhooks' schedule and given up after as many attempts. Without a mailer, e-mail
 * notices fail with a reason the console shows.
 */
export async function deliverAlertNotifications({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: {
    consoleUrl: string;
    allowPrivateAddresses?: boolean;
    lookup?: HostLookup;
    timeoutMs?: number;
    retryDelaysSeconds?: number[];
  };
  deps: { secrets: SecretBox; mailer: AlertMailer | null };
}): Promise<{ delivered: number; failed: number }> {
  if (ctx.actor.kind !== 'system') throw new FerryError('auth.forbidden', 'only the system sends notices');
  const delays = input.retryDelaysSeconds ?? WEBHOOK_RETRY_DELAYS_SECONDS;
  const claimed = rowsOf<Due>(
    await ctx.db.execute(sql`
      update alert_notifications n
      set next_attempt_at = now() + make_interval(secs => ${CLAIM_SECONDS})
      from notification_channels c, alerts a, gateways g, facilities f
      where c.id = n.channel_id and a.id = n.alert_id and g.id = a.gateway_id and f.id = g.facility_id
        and n.id in (
          select id from alert_notifications
          where delivered_at is null and failed_at is null and next_attempt_at <= now()
          order by next_attempt_at, created_at
          limit ${BATCH}
          for update skip locked
        )
      returning n.id, n.kind, n.attempts, c.kind as channel_kind, c.target, a.code, a.severity, a.message,
        a.since, a.cleared_at, a.gateway_id, g.hostname, f.name as facility_name`),
  );
  let delivered = 0;
  let failed = 0;
  // In order: an alert's opening goes out before its recovery.
  for (const d of claimed.sort((x, y) => (x.kind === y.kind ? 0 : x.kind === 'opened' ? -1 : 1))) {
    const { subject, text } = alertText(d, input.consoleUrl);
    const log = {
      notificationId: d.id,
      channel: d.channel_kind,
      kind: d.kind,
      code: d.code,
      gatewayId: d.gateway_id,
    };
    let error: string | null = null;
    try {
      if (d.channel_kind === 'email') {
        if (!deps.mailer) throw new FerryError('config.invalid', 'FERRY_SMTP_URL is not set');
        await deps.mailer.send({ to: d.target, subject, text });
      } else {
        const { status } = await postChatMessage(deps.secrets.open(d.target, CHAT_URL_PURPOSE), text, {
          allowPrivate: input.allowPrivateAddresses ?? false,
          ...(input.lookup ? { lookup: input.lookup } : {}),
          signal: AbortSignal.timeout(input.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
        });
        if (status < 200 || status >= 300) error = `HTTP ${status}`;
      }
    } catch (err) {
      error =
        err instanceof FerryError && err.code === 'config.invalid'
          ? err.message
          : d.channel_kind === 'email'
            ? `SMTP: ${String((err as { response?: string; message?: string }).response ?? (err as Error).message).slice(0, 200)}`
            : deliveryFailureReason(err, { timedOut: false });
    }
    const attempts = Number(d.attempts) + 1;
    if (error === null) {
      delivered++;
      await ctx.db.execute(
        sql`update alert_notifications set delivered_at = now(), attempts = ${attempts}, last_error = null where id = ${d.id}`,
      );
      ctx.log.info({ event: 'alert.notified', ...log }, 'alert notice sent');
      continue;
    }
    failed++;
    const giveUp = attempts >= WEBHOOK_MAX_ATTEMPTS;
    const delay = delays[Math.min(attempts - 1, delays.length - 1)] ?? 60;
    await ctx.db.execute(sql`
      update alert_notifications
      set attempts = ${attempts}, last_error = ${error},
          next_attempt_at = now() + make_interval(secs => ${delay}),
          failed_at = ${giveUp ? sql`now()` : sql`null`}
      where id = ${d.id}`);
    ctx.log.warn(
      { event: giveUp ? 'alert.notice_given_up' : 'alert.notice_retry', ...log, error },
      'alert notice failed',
    );
  }
  return { delivered, failed };
}
