import { randomUUID } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { agentTokenUses } from '../db/schema/index.js';
import { startAgentTokenPrune } from '../jobs/agent-token-prune.js';
import { AGENT_TOKEN_CLOCK_SKEW_SECONDS, AGENT_TOKEN_MAX_SECONDS } from './agent-token.js';

describe.each(BACKENDS)('agent token age and the replay table (%s)', (backend) => {
  let t: TestApp;
  let gw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend);
    const g = await t.seedGroup();
    gw = await enrollTestGateway(t, g);
  });
  afterAll(async () => {
    await t?.close();
  });

  const me = async (token: string) =>
    t.request<{ error?: { code: string; message: string } }>('GET', '/api/v1/agents/me', { token });
  const now = () => Math.floor(Date.now() / 1000);

  it(`refuses a token issued more than ${AGENT_TOKEN_MAX_SECONDS} s ago, even with exp ahead (auth.expired_token)`, async () => {
    const res = await me(await gw.token({ iat: now() - AGENT_TOKEN_MAX_SECONDS - 30, expSeconds: 60 }));
    expect(res.status, res.text).toBe(401);
    expect(res.body.error?.code).toBe('auth.expired_token');
    expect(res.body.error?.message).toContain('issued more than');
  });

  it('refuses a token issued in the future beyond the clock-skew allowance (auth.token_not_yet_valid)', async () => {
    const iat = now() + 600;
    const res = await me(await gw.token({ iat, expSeconds: 660 }));
    expect(res.status, res.text).toBe(401);
    expect(res.body.error?.code).toBe('auth.token_not_yet_valid');
    // Within the allowance (a gateway clock a little ahead) it still signs in.
    const ok = await me(await gw.token({ iat: now() + AGENT_TOKEN_CLOCK_SKEW_SECONDS - 20, expSeconds: 60 }));
    expect(ok.status, ok.text).toBe(200);
  });

  it('prunes the replay rows of spent tokens on schedule and keeps the live ones', async () => {
    const at = (secondsFromNow: number) => new Date(Date.now() + secondsFromNow * 1000);
    const rows = {
      old: { jti: `old-${randomUUID()}`, expiresAt: at(-AGENT_TOKEN_MAX_SECONDS * 2) },
      justExpired: { jti: `margin-${randomUUID()}`, expiresAt: at(-AGENT_TOKEN_CLOCK_SKEW_SECONDS / 2) },
      live: { jti: `live-${randomUUID()}`, expiresAt: at(60) },
    };
    await t.database.db
      .insert(agentTokenUses)
      .values(Object.values(rows).map((r) => ({ ...r, gatewayId: gw.gatewayId })));
    // A real request leaves its row too, and it must survive.
    const used = await me(await gw.token());
    expect(used.status, used.text).toBe(200);
    const jtis = Object.values(rows).map((r) => r.jti);
    const left = async () =>
      (
        await t.database.db
          .select({ jti: agentTokenUses.jti })
          .from(agentTokenUses)
          .where(inArray(agentTokenUses.jti, jtis))
      )
        .map((r) => r.jti)
        .sort();
    const total = async () => (await t.database.db.select().from(agentTokenUses)).length;
    const before = await total();

    const job = startAgentTokenPrune({ db: t.database.db, log: pino({ level: 'silent' }), intervalMs: 20 });
    try {
      await expect.poll(left, { timeout: 5000, interval: 25 }).not.toContain(rows.old.jti);
    } finally {
      await job.stop();
    }
    // Expired within the skew margin is kept a little longer; live rows stay.
    expect(await left()).toEqual([rows.justExpired.jti, rows.live.jti].sort());
    expect(await total()).toBe(before - 1);
  });
});
