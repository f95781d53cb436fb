import { randomUUID } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { agentTokenUses, gateways } from '../db/schema/index.js';
import { startAgentTokenPrune } from '../jobs/agent-token-prune.js';
import {
  AGENT_TOKEN_CLOCK_SKEW_SECONDS,
  AGENT_TOKEN_MAX_SECONDS,
  LAST_SEEN_RESOLUTION_MS,
} from './agent-token.js';

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

// Authentication is one statement once this process knows a gateway's keys: these prove the statement
// (not the known keys) decides, so nothing is remembered across requests that could let a revoked,
// deleted or replaying gateway through.
describe.each(BACKENDS)('agent authentication after a first request (%s)', (backend) => {
  let t: TestApp;
  let g: Awaited<ReturnType<TestApp['seedGroup']>>;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup();
  });
  afterAll(async () => {
    await t?.close();
  });

  const me = async (token: string) =>
    t.request<{ error?: { code: string } }>('GET', '/api/v1/agents/me', { token });
  const jtiOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
  const uses = async (jti: string) =>
    (await t.database.db.select().from(agentTokenUses).where(eq(agentTokenUses.jti, jti))).length;
  const lastSeen = async (id: string) =>
    (await t.database.db.select().from(gateways).where(eq(gateways.id, id)))[0]!.lastSeenAt;

  it('refuses a gateway revoked, then deleted, since its last request at once, and records nothing', async () => {
    const gw = await enrollTestGateway(t, g);
    expect((await me(await gw.token())).status).toBe(200);
    await t.database.db.update(gateways).set({ revokedAt: new Date() }).where(eq(gateways.id, gw.gatewayId));
    const token = await gw.token();
    const res = await me(token);
    expect(res.status, res.text).toBe(401);
    expect(res.body.error?.code).toBe('auth.reenroll');
    expect(await uses(jtiOf(token))).toBe(0);

    const other = await enrollTestGateway(t, g);
    expect((await me(await other.token())).status).toBe(200);
    await t.database.db.delete(gateways).where(eq(gateways.id, other.gatewayId));
    const gone = await me(await other.token());
    expect(gone.status, gone.text).toBe(401);
    expect(gone.body.error?.code).toBe('auth.reenroll');
  });

  it('refuses a replay, sequential or concurrent: exactly one use of a token succeeds', async () => {
    const gw = await enrollTestGateway(t, g);
    expect((await me(await gw.token())).status).toBe(200);
    const token = await gw.token();
    expect((await me(token)).status).toBe(200);
    const again = await me(token);
    expect(again.status).toBe(401);
    expect(again.body.error?.code).toBe('auth.replayed_token');

    const racing = await gw.token();
    const results = await Promise.all(Array.from({ length: 6 }, () => me(racing)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401, 401]);
    for (const r of results.filter((x) => x.status === 401))
      expect(r.body.error?.code).toBe('auth.replayed_token');
    expect(await uses(jtiOf(racing))).toBe(1);
  });

  it(`stamps last_seen_at at most once per ${LAST_SEEN_RESOLUTION_MS} ms, and at once when older`, async () => {
    const gw = await enrollTestGateway(t, g);
    expect(await lastSeen(gw.gatewayId)).toBeNull();
    expect((await me(await gw.token())).status).toBe(200);
    const first = await lastSeen(gw.gatewayId);
    expect(first).not.toBeNull();
    expect((await me(await gw.token())).status).toBe(200);
    expect(await lastSeen(gw.gatewayId)).toEqual(first);

    const old = new Date(Date.now() - LAST_SEEN_RESOLUTION_MS - 1000);
    await t.database.db.update(gateways).set({ lastSeenAt: old }).where(eq(gateways.id, gw.gatewayId));
    const before = Date.now();
    expect((await me(await gw.token())).status).toBe(200);
    expect((await lastSeen(gw.gatewayId))!.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });
});
