import { generateKeyPairSync } from 'node:crypto';
import { GATEWAY_CONFIG_DEFAULTS } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { exportJWK, type JWK, generateKeyPair as joseGenerateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  seedFacility,
  signAgentToken,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, configVersions, enrollmentTokens, gateways } from '../db/schema/index.js';

interface EnrollBody {
  gatewayId: string;
  facility: { id: string; name: string; aeTitle: string };
  config: Record<string, unknown>;
  configVersion: number;
  recipientPublicKey: JWK;
}
interface ErrorBody {
  error: { code: string; message: string; requestId: string; reenroll?: boolean };
}
type AgentKeys = Awaited<ReturnType<typeof newAgentKeyPair>>;

const publicOf = (k: AgentKeys): JWK => ({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x });
const errorOf = (body: unknown) => (body as ErrorBody).error;

describe.each(BACKENDS)('agent routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let facilityId: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Agents group');
    ({ facilityId } = await seedFacility(t, g, { name: 'Radiology East', aeTitle: 'RAD_EAST' }));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function issue(body: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
    const res = await t.request<{ id: string; token: string }>(
      'POST',
      `/api/v1/facilities/${facilityId}/enrollment-tokens`,
      { token: g.admin.token, body },
    );
    expect(res.status, res.text).toBe(201);
    return res.body;
  }

  const enroll = (token: string, keys: AgentKeys, extra: Record<string, unknown> = {}) =>
    t.request<EnrollBody>('POST', '/api/v1/agents/enroll', {
      body: { token, publicKey: publicOf(keys), hostname: 'gw-east-1', version: '0.1.0', ...extra },
    });

  async function enrolled(): Promise<{ gatewayId: string; keys: AgentKeys }> {
    const keys = await newAgentKeyPair();
    const res = await enroll((await issue()).token, keys);
    expect(res.status, res.text).toBe(200);
    return { gatewayId: res.body.gatewayId, keys };
  }

  const me = async (gatewayId: string, keys: AgentKeys, opts: { jti?: string } = {}) =>
    t.request<Record<string, unknown>>('GET', '/api/v1/agents/me', {
      token: await signAgentToken(keys.privateKey, gatewayId, opts),
    });

  const rotate = async (gatewayId: string, signer: AgentKeys, next: AgentKeys | Record<string, unknown>) =>
    t.request<Record<string, unknown>>('POST', '/api/v1/agents/rotate-key', {
      token: await signAgentToken(signer.privateKey, gatewayId),
      body: { publicKey: 'privateKey' in next ? publicOf(next as AgentKeys) : next },
    });

  const gatewayRow = async (id: string) =>
    (await t.database.db.select().from(gateways).where(eq(gateways.id, id)))[0];

  describe('enroll', () => {
    it('registers the gateway with config version 1, consumes the token and audits as the agent', async () => {
      const issued = await issue();
      const keys = await newAgentKeyPair();
      const res = await enroll(issued.token, keys);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({
        gatewayId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: 'Radiology East gw-east-1',
        facility: { id: facilityId, name: 'Radiology East', aeTitle: 'RAD_EAST' },
        config: { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'RAD_EAST' },
        configVersion: 1,
        recipientPublicKey: {
          kty: 'OKP',
          crv: 'X25519',
          x: t.deps.recipientPublicKey.x,
          kid: t.deps.recipientPublicKey.kid,
        },
        releaseSigningKey: { kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) },
      });
      const { gatewayId } = res.body;
      const gw = await gatewayRow(gatewayId);
      expect(gw).toMatchObject({
        groupId: g.groupId,
        facilityId,
        hostname: 'gw-east-1',
        version: '0.1.0',
        previousPublicKey: null,
        revokedAt: null,
      });
      expect(gw!.publicKey).toEqual(publicOf(keys));
      const versions = await t.database.db
        .select()
        .from(configVersions)
        .where(eq(configVersions.gatewayId, gatewayId));
      expect(versions.map((v) => v.version)).toEqual([1]);
      expect(versions[0]!.config).toEqual(res.body.config);
      const [tok] = await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, issued.id));
      expect(tok!.uses).toBe(1);
      const audit = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'gateway.enroll'), eq(auditLog.targetId, gatewayId)));
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actorType: 'agent', actorId: gatewayId, groupId: g.groupId });
      expect(audit[0]!.details).toMatchObject({ enrollmentTokenId: issued.id, facilityId });
      expect(JSON.stringify(audit[0])).not.toContain(issued.token);

      // The enrolled key now signs agent calls.
      const self = await me(gatewayId, keys);
      expect(self.status, self.text).toBe(200);
      expect(self.body).toEqual({
        gatewayId,
        facility: { id: facilityId, name: 'Radiology East', aeTitle: 'RAD_EAST' },
        configVersion: 1,
        config: res.body.config,
      });
    });

    it('refuses a used token with enrollment.token_invalid and registers nothing', async () => {
      const issued = await issue();
      expect((await enroll(issued.token, await newAgentKeyPair())).status).toBe(200);
      const keys = await newAgentKeyPair();
      const res = await enroll(issued.token, keys);
      expect(res.status).toBe(401);
      expect(errorOf(res.body).code).toBe('enrollment.token_invalid');
      expect(errorOf(res.body).message).toContain('already used');
      const rows = await t.database.db.select().from(gateways).where(eq(gateways.hostname, 'gw-east-1'));
      expect(rows.some((r) => (r.publicKey as JWK).x === keys.publicJwk.x)).toBe(false);
      const refused = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'gateway.enroll_refused'), eq(auditLog.targetId, issued.id)));
      expect(refused).toHaveLength(1);
      expect(refused[0]!.groupId).toBe(g.groupId);
    });

    it('refuses expired, revoked and unknown tokens, each with its reason', async () => {
      const expired = await issue();
      await t.database.db
        .update(enrollmentTokens)
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .where(eq(enrollmentTokens.id, expired.id));
      const e = await enroll(expired.token, await newAgentKeyPair());
      expect(e.status).toBe(401);
      expect(errorOf(e.body)).toMatchObject({ code: 'enrollment.token_invalid' });
      expect(errorOf(e.body).message).toContain('expired');

      const revoked = await issue();
      const rv = await t.request('POST', `/api/v1/enrollment-tokens/${revoked.id}/revoke`, {
        token: g.admin.token,
      });
      expect(rv.status).toBe(200);
      const r = await enroll(revoked.token, await newAgentKeyPair());
      expect(r.status).toBe(401);
      expect(errorOf(r.body).code).toBe('enrollment.token_invalid');
      expect(errorOf(r.body).message).toContain('revoked');

      const u = await enroll(`fet_${'x'.repeat(43)}`, await newAgentKeyPair());
      expect(u.status).toBe(401);
      expect(errorOf(u.body).code).toBe('enrollment.token_invalid');
      expect(errorOf(u.body).message).toContain('not known');
    });

    it('lets a maxUses token enroll that many gateways and no more', async () => {
      const issued = await issue({ maxUses: 3 });
      const ids = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const res = await enroll(issued.token, await newAgentKeyPair(), { hostname: `gw-multi-${i}` });
        expect(res.status, res.text).toBe(200);
        ids.add(res.body.gatewayId);
      }
      expect(ids.size).toBe(3);
      const fourth = await enroll(issued.token, await newAgentKeyPair());
      expect(fourth.status).toBe(401);
      expect(errorOf(fourth.body).message).toContain('already used 3 times');
      const list = await t.request<{ tokens: { id: string; uses: number }[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: g.admin.token },
      );
      expect(list.body.tokens.find((x) => x.id === issued.id)?.uses).toBe(3);
    });

    it('gives a single-use token to exactly one of two concurrent enrollments', async () => {
      const issued = await issue();
      const [a, b] = await Promise.all([
        enroll(issued.token, await newAgentKeyPair(), { hostname: 'gw-race-a' }),
        enroll(issued.token, await newAgentKeyPair(), { hostname: 'gw-race-b' }),
      ]);
      expect([a!.status, b!.status].sort()).toEqual([200, 401]);
      const loser = a!.status === 401 ? a! : b!;
      expect(errorOf(loser.body).code).toBe('enrollment.token_invalid');
      const rows = await t.database.db.select().from(gateways).where(eq(gateways.facilityId, facilityId));
      expect(rows.filter((r) => r.hostname.startsWith('gw-race-'))).toHaveLength(1);
      const [tok] = await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, issued.id));
      expect(tok!.uses).toBe(1);
    });

    it('gives a two-use token to exactly two of five concurrent enrollments', async () => {
      const issued = await issue({ maxUses: 2 });
      const keys = await Promise.all([1, 2, 3, 4, 5].map(() => newAgentKeyPair()));
      const results = await Promise.all(
        keys.map((k, i) => enroll(issued.token, k, { hostname: `gw-five-${i}` })),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(2);
      expect(results.filter((r) => r.status === 401)).toHaveLength(3);
      const [tok] = await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, issued.id));
      expect(tok!.uses).toBe(2);
    });

    it('refuses a private key, another curve, a malformed key, and missing fields (token unspent)', async () => {
      const issued = await issue();
      const keys = await newAgentKeyPair();
      const withD = await t.request('POST', '/api/v1/agents/enroll', {
        body: { token: issued.token, publicKey: keys.privateJwk, hostname: 'h', version: '1' },
      });
      expect(withD.status).toBe(400);
      expect(errorOf(withD.body).message).toContain('private');
      const x25519 = await joseGenerateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true });
      const wrongCurve = await t.request('POST', '/api/v1/agents/enroll', {
        body: {
          token: issued.token,
          publicKey: await exportJWK(x25519.publicKey),
          hostname: 'h',
          version: '1',
        },
      });
      expect(wrongCurve.status).toBe(400);
      expect(errorOf(wrongCurve.body).message).toContain('crv');
      const shortX = await t.request('POST', '/api/v1/agents/enroll', {
        body: {
          token: issued.token,
          publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'abc' },
          hostname: 'h',
          version: '1',
        },
      });
      expect(shortX.status).toBe(400);
      const noHost = await t.request('POST', '/api/v1/agents/enroll', {
        body: { token: issued.token, publicKey: publicOf(keys), version: '1' },
      });
      expect(noHost.status).toBe(400);
      const [tok] = await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, issued.id));
      expect(tok!.uses).toBe(0);
      expect((await enroll(issued.token, keys)).status).toBe(200);
    });
  });

  describe('rotate-key', () => {
    it('keeps the old key valid until the new key is first used, then refuses it', async () => {
      const { gatewayId, keys: oldKeys } = await enrolled();
      const newKeys = await newAgentKeyPair();
      const res = await rotate(gatewayId, oldKeys, newKeys);
      expect(res.status, res.text).toBe(200);
      expect(res.body.gatewayId).toBe(gatewayId);
      let gw = await gatewayRow(gatewayId);
      expect(gw!.publicKey).toEqual(publicOf(newKeys));
      expect(gw!.previousPublicKey).toEqual(publicOf(oldKeys));

      // Until the agent shows it holds the new key, the old one still works (any number of calls).
      expect((await me(gatewayId, oldKeys)).status).toBe(200);
      expect((await me(gatewayId, oldKeys)).status).toBe(200);
      // The first call with the new key retires the old one.
      expect((await me(gatewayId, newKeys)).status).toBe(200);
      gw = await gatewayRow(gatewayId);
      expect(gw!.previousPublicKey).toBeNull();
      const old = await me(gatewayId, oldKeys);
      expect(old.status).toBe(401);
      expect(errorOf(old.body).code).toBe('auth.invalid_token');
      expect((await me(gatewayId, newKeys)).status).toBe(200);

      const audit = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'gateway.rotate_key'), eq(auditLog.targetId, gatewayId)));
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actorType: 'agent', actorId: gatewayId });
    });

    it('reports an expired token as expired while two keys are registered', async () => {
      const { gatewayId, keys: oldKeys } = await enrolled();
      const newKeys = await newAgentKeyPair();
      expect((await rotate(gatewayId, oldKeys, newKeys)).status).toBe(200);
      for (const keys of [newKeys, oldKeys]) {
        const res = await t.request('GET', '/api/v1/agents/me', {
          token: await signAgentToken(keys.privateKey, gatewayId, { expSeconds: -10 }),
        });
        expect(errorOf(res.body).code).toBe('auth.expired_token');
      }
    });

    it('accepts a retry signed with the old key after a lost answer, without losing the old key', async () => {
      const { gatewayId, keys: oldKeys } = await enrolled();
      const newKeys = await newAgentKeyPair();
      expect((await rotate(gatewayId, oldKeys, newKeys)).status).toBe(200);
      const retry = await rotate(gatewayId, oldKeys, newKeys);
      expect(retry.status, retry.text).toBe(200);
      const gw = await gatewayRow(gatewayId);
      expect(gw!.publicKey).toEqual(publicOf(newKeys));
      expect(gw!.previousPublicKey).toEqual(publicOf(oldKeys));
    });

    it('refuses the signing key itself, a private key, and a missing key', async () => {
      const { gatewayId, keys } = await enrolled();
      const same = await rotate(gatewayId, keys, keys);
      expect(same.status).toBe(400);
      expect(errorOf(same.body).message).toContain('differ');
      const priv = await rotate(
        gatewayId,
        keys,
        (await newAgentKeyPair()).privateJwk as Record<string, unknown>,
      );
      expect(priv.status).toBe(400);
      const none = await t.request('POST', '/api/v1/agents/rotate-key', {
        token: await signAgentToken(keys.privateKey, gatewayId),
        body: {},
      });
      expect(none.status).toBe(400);
      expect((await gatewayRow(gatewayId))!.publicKey).toEqual(publicOf(keys));
    });

    it('is for agents: a user session is refused', async () => {
      const res = await t.request('POST', '/api/v1/agents/rotate-key', {
        token: g.admin.token,
        body: { publicKey: publicOf(await newAgentKeyPair()) },
      });
      expect(res.status).toBe(401);
    });
  });

  describe('agent authentication', () => {
    it('tells a revoked gateway to re-enroll, on every agent route', async () => {
      const { gatewayId, keys } = await enrolled();
      await t.database.db.update(gateways).set({ revokedAt: new Date() }).where(eq(gateways.id, gatewayId));
      const self = await me(gatewayId, keys);
      expect(self.status).toBe(401);
      expect(errorOf(self.body)).toMatchObject({ code: 'auth.reenroll', reenroll: true });
      const rot = await rotate(gatewayId, keys, await newAgentKeyPair());
      expect(rot.status).toBe(401);
      expect(errorOf(rot.body)).toMatchObject({ code: 'auth.reenroll', reenroll: true });
    });

    it('refuses a replayed token (same jti)', async () => {
      const { gatewayId, keys } = await enrolled();
      const token = await signAgentToken(keys.privateKey, gatewayId);
      expect((await t.request('GET', '/api/v1/agents/me', { token })).status).toBe(200);
      const replay = await t.request('GET', '/api/v1/agents/me', { token });
      expect(replay.status).toBe(401);
      expect(errorOf(replay.body).code).toBe('auth.replayed_token');
    });

    it('refuses a token for another audience, an expired one, and one signed by another key', async () => {
      const { gatewayId, keys } = await enrolled();
      const wrongAud = await t.request('GET', '/api/v1/agents/me', {
        token: await signAgentToken(keys.privateKey, gatewayId, { aud: 'https://elsewhere.example' }),
      });
      expect(wrongAud.status).toBe(401);
      const expired = await t.request('GET', '/api/v1/agents/me', {
        token: await signAgentToken(keys.privateKey, gatewayId, { expSeconds: -10 }),
      });
      expect(errorOf(expired.body).code).toBe('auth.expired_token');
      const forged = await me(gatewayId, await newAgentKeyPair());
      expect(errorOf(forged.body).code).toBe('auth.invalid_token');
    });

    it('gives a gateway registered without a config version its first version on /me', async () => {
      const gw = await enrollTestGateway(t, g, { facilityId });
      const res = await t.request<{ configVersion: number }>('GET', '/api/v1/agents/me', {
        token: await gw.token(),
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.configVersion).toBe(1);
    });
  });
});

/** A fixed new key for the rotate-key security checks (bodies are built synchronously). */
function freshPublicJwk(): JWK {
  const { publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
}

// POST /api/v1/agents/enroll is public: the enrollment token in its body is the credential, and the
// enroll tests above cover a missing, unknown, used, expired and revoked one.
describe.each(BACKENDS)('agent routes security (%s)', (backend) => {
  runCommonRouteTests(backend, { method: 'GET', path: '/api/v1/agents/me', caller: 'agent', okStatus: 200 });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/agents/rotate-key',
    body: { publicKey: freshPublicJwk() },
    caller: 'agent',
    // The route acts on the calling gateway only: another group's gateway rotates its own key.
    otherGroup: 'filtered',
    okStatus: 200,
  });
});
