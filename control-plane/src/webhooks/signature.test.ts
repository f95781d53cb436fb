import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhookBody, verifyWebhookSignature } from './signature.js';

describe('webhook signatures', () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify({ id: 'gateway.offline:1', type: 'gateway.offline' });
  const t = 1_800_000_000;
  const at = new Date(t * 1000);

  it('signs t.body with HMAC-SHA256 in the Stripe header shape', () => {
    const header = signWebhookBody(secret, body, t);
    const hex = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(header).toBe(`t=${t},v1=${hex}`);
    expect(secret).toMatch(/^whsec_[\w-]{43}$/);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it('verifies its own signature, also listed among other v1 values', () => {
    const header = signWebhookBody(secret, body, t);
    expect(verifyWebhookSignature({ secret, body, header, now: at })).toBe(true);
    const other = signWebhookBody('whsec_other', body, t).split(',')[1];
    expect(verifyWebhookSignature({ secret, body, header: `${header},${other}`, now: at })).toBe(true);
  });

  it('refuses a changed body, another secret, a stale or future time and malformed headers', () => {
    const header = signWebhookBody(secret, body, t);
    expect(verifyWebhookSignature({ secret, body: `${body} `, header, now: at })).toBe(false);
    expect(verifyWebhookSignature({ secret: newWebhookSecret(), body, header, now: at })).toBe(false);
    expect(verifyWebhookSignature({ secret, body, header, now: new Date((t + 301) * 1000) })).toBe(false);
    expect(verifyWebhookSignature({ secret, body, header, now: new Date((t - 301) * 1000) })).toBe(false);
    expect(
      verifyWebhookSignature({
        secret,
        body,
        header,
        now: new Date((t + 600) * 1000),
        toleranceSeconds: 900,
      }),
    ).toBe(true);
    for (const bad of [undefined, '', 'v1=abc', `t=${t}`, header.replace(/v1=[0-9a-f]{2}/, 'v1=zz')]) {
      expect(verifyWebhookSignature({ secret, body, header: bad, now: at })).toBe(false);
    }
  });
});
