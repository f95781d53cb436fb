/**
 * Credential attacks the shared security suite (testing/security-suite.ts: no token, malformed,
 * alg none, wrong key, expired, replay, revoked, wrong group, session-for-agent and back) does not
 * make: HS256 signed with the agent's public key (key confusion), key-locating headers (kid, jku, x5u,
 * an embedded jwk), an unknown `crit` extension, and tokens in the query string. Then brute force
 * against sign-in (held back per account and address, never locking the owner out), through the API
 * and the console form, and user enumeration.
 */
import { createHmac, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeak } from '../../../testkit/control-plane/attack.js';
import { postLogin } from '../../../testkit/control-plane/console.js';
import {
  type Backend,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { rateLimits } from '../../src/db/schema/index.js';
import { LOGIN_BACKOFF } from '../../src/services/login-throttle.js';

const LOGIN = '/api/v1/auth/login';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An HS256 JWT with any header, MAC'd with any bytes (jose refuses some of these keys). */
function hmacToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: Buffer | string,
): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** One app per describe: a fresh database, an operator group and one enrolled gateway. */
function world(backend: Backend) {
  const w = {} as { t: TestApp; g: SeededGroup; gw: TestGateway };
  beforeAll(async () => {
    w.t = await createTestApp(backend);
    w.g = await w.t.seedGroup('Auth attacks', { operator: true });
    w.gw = await enrollTestGateway(w.t, w.g);
  });
  afterAll(async () => {
    await w.t?.close();
  });
  return w;
}

// Token checks do not depend on the database backend (the security suite runs both); PGlite here.
describe('token attacks (pglite)', () => {
  const w = world('pglite');

  const now = () => Math.floor(Date.now() / 1000);
  const agentClaims = () => ({
    sub: w.gw.gatewayId,
    aud: w.t.deps.publicUrl,
    iat: now(),
    exp: now() + 60,
    jti: randomUUID(),
  });
  const sessionClaims = () => ({
    sub: w.g.admin.id,
    grp: w.g.groupId,
    role: 'admin',
    op: true,
    sv: 1,
    iss: 'ferry-control-plane',
    aud: 'ferry-control-plane',
    iat: now(),
    exp: now() + 600,
  });

  describe('tokens', () => {
    it("refuses HS256 MAC'd with the gateway's own public key, on agent and user routes (key confusion)", async () => {
      const pub = w.gw.publicJwk;
      const keys = [JSON.stringify(pub), String(pub.x), Buffer.from(String(pub.x), 'base64url')];
      for (const key of keys) {
        const asAgent = hmacToken({}, agentClaims(), key);
        expectError(
          await w.t.request('GET', '/api/v1/agents/me', { token: asAgent }),
          401,
          'auth.invalid_token',
        );
        const asUser = hmacToken({}, sessionClaims(), key);
        expectError(
          await w.t.request('GET', '/api/v1/facilities', { token: asUser }),
          401,
          'auth.invalid_token',
        );
      }
    });

    it('ignores key-locating headers: kid, jku, x5u and an embedded jwk name no key it trusts', async () => {
      const attacker = await newAgentKeyPair();
      const headers = [
        { kid: '../../../../dev/null' },
        { kid: "' UNION SELECT 'AAAA' --" },
        { jku: 'https://attacker.example/jwks.json' },
        { x5u: 'https://attacker.example/cert.pem' },
        { jwk: attacker.publicJwk },
      ];
      for (const extra of headers) {
        const agent = await new SignJWT({})
          .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', ...extra })
          .setSubject(w.gw.gatewayId)
          .setAudience(w.t.deps.publicUrl)
          .setIssuedAt()
          .setExpirationTime('60s')
          .setJti(randomUUID())
          .sign(attacker.privateKey);
        expectError(
          await w.t.request('GET', '/api/v1/agents/me', { token: agent }),
          401,
          'auth.invalid_token',
        );
        // kid '/dev/null' style: a MAC with an empty key, as if the header had pointed at an empty file.
        const user = hmacToken(extra, sessionClaims(), Buffer.alloc(0));
        expectError(
          await w.t.request('GET', '/api/v1/facilities', { token: user }),
          401,
          'auth.invalid_token',
        );
      }
    });

    it('refuses a validly signed agent token that carries an unknown crit extension', async () => {
      // Signed with this gateway's real key (by hand: jose will not sign an unknown crit); only crit is wrong.
      const header = { alg: 'EdDSA', typ: 'JWT', crit: ['x-ferry-bypass'], 'x-ferry-bypass': true };
      const input = `${b64(header)}.${b64(agentClaims())}`;
      const key = createPrivateKey({ key: w.gw.privateJwk as never, format: 'jwk' });
      const token = `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
      expectError(await w.t.request('GET', '/api/v1/agents/me', { token }), 401, 'auth.invalid_token');
      // The same token without crit gets in: the signature was good, the crit header is what is refused.
      const plainInput = `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64(agentClaims())}`;
      const plain = `${plainInput}.${sign(null, Buffer.from(plainInput), key).toString('base64url')}`;
      expect((await w.t.request('GET', '/api/v1/agents/me', { token: plain })).status).toBe(200);
    });

    it('takes no token from the query string', async () => {
      const agentToken = await w.gw.token();
      const cases: [string, string][] = [
        ['/api/v1/facilities', w.g.admin.token],
        ['/dicomweb/studies', w.g.admin.token],
        ['/api/v1/agents/me', agentToken],
      ];
      for (const [path, token] of cases)
        for (const name of ['token', 'access_token', 'jwt', 'authorization', 'auth']) {
          const res = await w.t.request('GET', `${path}?${name}=${encodeURIComponent(token)}`);
          expectError(res, 401, 'auth.missing_token');
        }
    });
  });
});

// The throttles are shared rows, so these run on PostgreSQL, the multi-replica backend. Every wrong
// password costs a real scrypt, so the delays here are reached by real attempts only once.
describe('brute force and enumeration (postgres)', () => {
  const w = world('postgres');
  const login = (email: string, password: string, address?: string, xff = '198.51.100.1') =>
    w.t.app.request(
      `${w.t.deps.publicUrl}${LOGIN}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
        body: JSON.stringify({ email, password }),
      },
      // app.request has no socket; these are the bindings @hono/node-server's conninfo reads.
      address
        ? { incoming: { socket: { remoteAddress: address, remotePort: 40000, remoteFamily: 'IPv4' } } }
        : undefined,
    );
  /** Records `count` wrong passwords for (email, address) just now, as earlier attempts would. */
  const setFailures = async (email: string, address: string, count: number) => {
    await w.t.database.db
      .insert(rateLimits)
      .values({ key: `backoff:password:${email}:${address}`, windowStart: new Date(), count });
  };
  const errorOf = async (res: Response) => ({
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as { error: { code: string; message: string } },
  });

  it('holds an address back after its free wrong passwords (429 with Retry-After), even for the right one; the owner elsewhere signs in', async () => {
    const victim = await w.t.seedGroup('Brute force victim');
    const attacker = '203.0.113.50';
    for (let i = 0; i < LOGIN_BACKOFF.free; i++)
      expect((await login(victim.admin.email, `wrong-${i}`, attacker)).status).toBe(401);
    const held = await errorOf(await login(victim.admin.email, 'wrong-again', attacker));
    expect(held.status).toBe(429);
    expect(held.body.error.code).toBe('auth.rate_limited');
    const seconds = Number(held.retryAfter);
    expect(Number.isInteger(seconds), String(held.retryAfter)).toBe(true);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(15 * 60);
    const right = await errorOf(await login(victim.admin.email, victim.admin.password, attacker));
    expect(right.status).toBe(429);
    expect(right.body.error.code).toBe('auth.rate_limited');
    // No lock-out by strangers: the admin, from their own desk, is not held up.
    expect((await login(victim.admin.email, victim.admin.password, '192.0.2.44')).status).toBe(200);
    expect((await login(victim.reader.email, victim.reader.password, attacker)).status).toBe(200);
  });

  it('ignores X-Forwarded-For when no proxy is trusted: a new header value is not a new address', async () => {
    const victim = await w.t.seedGroup('Header rotation victim');
    const attacker = '203.0.113.51';
    await setFailures(victim.admin.email, attacker, LOGIN_BACKOFF.free - 1);
    expect((await login(victim.admin.email, 'wrong', attacker, '192.0.2.1')).status).toBe(401);
    const held = await errorOf(await login(victim.admin.email, victim.admin.password, attacker, '192.0.2.2'));
    expect(held.status).toBe(429);
    expect(held.retryAfter).toMatch(/^\d+$/);
  });

  it('holds the console form back the same way, with Retry-After on the page', async () => {
    const victim = await w.t.seedGroup('Console victim');
    // In process there is no socket, so the form's caller has no address.
    await setFailures(victim.admin.email, 'unknown', LOGIN_BACKOFF.free - 1);
    expect((await postLogin(w.t, { email: victim.admin.email, password: 'wrong', next: '/' })).status).toBe(
      401,
    );
    const held = await postLogin(w.t, {
      email: victim.admin.email,
      password: victim.admin.password,
      next: '/',
    });
    expect(held.status).toBe(429);
    expect(held.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(held.headers.get('set-cookie') ?? '').not.toContain('ferry_session=');
    expect(held.html).toContain('too many wrong attempts');
  });

  it('answers an unknown e-mail address exactly as a wrong password', async () => {
    const known = await errorOf(await login(w.g.reader.email, 'not-the-password'));
    const unknown = await errorOf(await login(`nobody-${randomUUID()}@example.test`, 'not-the-password'));
    expect(unknown.status).toBe(known.status);
    expect(unknown.body.error.code).toBe(known.body.error.code);
    expect(unknown.body.error.message).toBe(known.body.error.message);
    expect(known.status).toBe(401);
    const page = (email: string) => postLogin(w.t, { email, password: 'not-the-password' });
    const knownPage = await page(w.g.admin.email);
    const unknownPage = await page('nobody@example.test');
    expect(knownPage.status).toBe(401);
    expect(unknownPage.status).toBe(knownPage.status);
    const errorText = (html: string) => /id="login-error"[^>]*>([^<]*)</.exec(html)?.[1];
    expect(errorText(unknownPage.html)).toBeDefined();
    expect(errorText(unknownPage.html)).toBe(errorText(knownPage.html));
    expect(findLeak(knownPage.html)).toBeUndefined();
  });
});
