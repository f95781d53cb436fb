import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe style: `ferry-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `<t>.<raw body>` with the webhook's secret. The timestamp is signed so a captured delivery cannot be
 * replayed outside the tolerance window.
 */

export const SIGNATURE_HEADER = 'ferry-signature';
/** How far a receiver accepts the signed time from its own clock, by default. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** What a webhook secret is sealed as in the database (SecretBox purpose). */
export const WEBHOOK_SECRET_PURPOSE = 'webhook_secret';

/** A new webhook secret: 32 random bytes, prefixed so it is recognisable in a secret store. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function hmacHex(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The `ferry-signature` header value for `body` signed at `t` (unix seconds, default now). */
export function signWebhookBody(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * Whether `header` is a valid signature of the raw `body` with `secret`, made within `toleranceSeconds`
 * of `now`. Any `v1` in the header may match (a sender may list several during a secret rotation).
 */
export function verifyWebhookSignature(opts: {
  secret: string;
  body: string;
  header: string | null | undefined;
  toleranceSeconds?: number;
  now?: Date;
}): boolean {
  if (!opts.header) return false;
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of opts.header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (t === undefined || candidates.length === 0) return false;
  const nowSeconds = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - t) > (opts.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(hmacHex(opts.secret, t, opts.body), 'hex');
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
}
