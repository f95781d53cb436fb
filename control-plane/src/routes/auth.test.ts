import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import {
  hashPassword,
  needsRehash,
  PRODUCTION_PASSWORD_COST,
  passwordCost,
  setPasswordCost,
} from '../auth/password.js';
import { verifySessionToken } from '../auth/session.js';
import { auditLog, rateLimits, users } from '../db/schema/index.js';
import { authenticate } from '../edge/auth-middleware.js';
import { parseTrustedProxies } from '../env.js';
import { LOGIN_ADDRESS_BUDGET, LOGIN_BACKOFF } from '../services/login-throttle.js';

const LOGIN = '/api/v1/auth/login';
const WHOAMI = '/api/v1/test/whoami';

/**
 * Login is public, so the common security suite does not apply; what protects it is the throttle (per
 * account and client address, with the client address from a trusted proxy only), the uniform answer
 * for unknown accounts and the session cookie's flags.
 */
describe.each(BACKENDS)('POST /api/v1/auth/login (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    // A probe route, mounted before the first request builds the router: proves a token really opens doors.
    t.app.get(WHOAMI, authenticate('user'), (c) => c.json(c.get('actor')));
    g = await t.seedGroup('Login group');
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (email: string, password: string, headers?: Record<string, string>) =>
    t.request('POST', LOGIN, { body: { email, password }, ...(headers ? { headers } : {}) });

  describe('signing in', () => {
    it('returns a session token for the right password, usable as a bearer token', async () => {
      const res = await t.request('POST', LOGIN, {
        body: { email: g.admin.email, password: g.admin.password },
      });
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['expiresIn', 'passwordMustChange', 'token']);
      expect(res.body.expiresIn).toBe(1800);
      expect(res.body.passwordMustChange).toBe(false);
      const token = res.body.token as string;
      expect(await verifySessionToken(t.deps.sessionSecret, token)).toMatchObject({
        sub: g.admin.id,
        grp: g.groupId,
        role: 'admin',
        op: false,
        sv: 1,
      });
      const me = await t.request('GET', WHOAMI, { token });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ kind: 'user', userId: g.admin.id, groupId: g.groupId, role: 'admin' });
    });

    it('sets the token as an HttpOnly, SameSite=Strict session cookie that authenticates', async () => {
      const res = await t.request('POST', LOGIN, {
        body: { email: g.reader.email, password: g.reader.password },
      });
      expect(res.status).toBe(200);
      const cookie = res.headers.get('set-cookie') ?? '';
      const [pair, ...attrs] = cookie.split(';').map((s) => s.trim());
      expect(pair).toBe(`ferry_session=${res.body.token as string}`);
      const lower = attrs.map((a) => a.toLowerCase());
      expect(lower).toContain('httponly');
      expect(lower).toContain('samesite=strict');
      expect(lower).toContain('path=/');
      expect(lower).toContain('max-age=1800');
      // The test app's public URL is http://, so the cookie cannot be Secure there.
      expect(lower).not.toContain('secure');
      const me = await t.request('GET', WHOAMI, { headers: { cookie: pair! } });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ userId: g.reader.id, role: 'reader' });
    });

    it('matches the e-mail address case-insensitively and ignores surrounding spaces', async () => {
      const res = await t.request('POST', LOGIN, {
        body: { email: `  ${g.admin.email.toUpperCase()} `, password: g.admin.password },
      });
      expect(res.status, res.text).toBe(200);
    });

    it('ignores whatever credentials come along: the route is public', async () => {
      const res = await t.request('POST', LOGIN, {
        token: 'garbage',
        body: { email: g.admin.email, password: g.admin.password },
      });
      expect(res.status).toBe(200);
    });

    it('writes an audit row for a sign-in and for a failed one', async () => {
      const s = await t.seedGroup('Audited');
      expect((await login(s.admin.email, 'wrong password')).status).toBe(401);
      expect((await login(s.admin.email, s.admin.password)).status).toBe(200);
      const rows = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetId, s.admin.id), eq(auditLog.groupId, s.groupId)));
      expect(rows.map((r) => r.action).sort()).toEqual(['auth.login', 'auth.login_failed']);
      expect(rows.every((r) => r.requestId && r.requestId.length > 0)).toBe(true);
      expect(JSON.stringify(rows)).not.toContain('wrong password');
    });
  });

  describe('refusals', () => {
    it('refuses a wrong password and an unknown account alike (401 auth.bad_credentials)', async () => {
      const wrong = expectError(await login(g.admin.email, 'not the password'), 401, 'auth.bad_credentials');
      const unknown = expectError(
        await login('nobody@example.test', 'not the password'),
        401,
        'auth.bad_credentials',
      );
      expect(unknown.error.message).toBe(wrong.error.message);
      expect(wrong.error.message).not.toMatch(/unknown|exist|not found/i);
    });

    it('refuses a deactivated account even with its password (401 auth.bad_credentials)', async () => {
      const s = await t.seedGroup('Deactivated');
      await t.database.db.update(users).set({ deactivatedAt: new Date() }).where(eq(users.id, s.admin.id));
      expectError(await login(s.admin.email, s.admin.password), 401, 'auth.bad_credentials');
    });

    it('names the missing field (400 request.invalid)', async () => {
      const res = await t.request('POST', LOGIN, { body: { email: g.admin.email } });
      expect(expectError(res, 400, 'request.invalid').error.message).toContain('password');
    });

    it('refuses unknown members (400 request.invalid)', async () => {
      const res = await t.request('POST', LOGIN, {
        body: { email: g.admin.email, password: g.admin.password, role: 'admin' },
      });
      expectError(res, 400, 'request.invalid');
    });
  });

  /** A request from `address` (app.request has no socket: these are the bindings @hono/node-server's conninfo reads). */
  const from = (address: string) => ({
    incoming: {
      socket: {
        remoteAddress: address,
        remotePort: 40000,
        remoteFamily: address.includes(':') ? 'IPv6' : 'IPv4',
      },
    },
  });
  const loginFrom = (
    address: string,
    email: string,
    password: string,
    headers: Record<string, string> = {},
  ) =>
    t.app.request(
      `${t.deps.publicUrl}${LOGIN}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ email, password }),
      },
      from(address),
    );
  const codeOf = async (res: Response) => ((await res.json()) as { error?: { code: string } }).error?.code;
  const backoffOf = async (email: string, address: string) =>
    (
      await t.database.db
        .select()
        .from(rateLimits)
        .where(eq(rateLimits.key, `backoff:password:${email}:${address}`))
    )[0];
  /** Moves the last attempt of a backoff into the past, as if its delay had been waited out. */
  const waitOut = async (email: string, address: string) =>
    t.database.db
      .update(rateLimits)
      .set({ windowStart: new Date(Date.now() - 3600_000) })
      .where(eq(rateLimits.key, `backoff:password:${email}:${address}`));

  describe('throttling by account and client address', () => {
    it("a stranger's wrong passwords make only the stranger's address wait, with growing delays; the owner signs in from theirs", async () => {
      const s = await t.seedGroup('Stranger');
      const A = '203.0.113.66';
      const B = '198.51.100.20';
      // The free attempts (typos), then the first delay.
      for (let i = 1; i <= LOGIN_BACKOFF.free; i++)
        expect((await loginFrom(A, s.admin.email, `wrong ${i}`)).status).toBe(401);
      const first = await loginFrom(A, s.admin.email, 'wrong again');
      expect(first.status).toBe(429);
      expect(await codeOf(first)).toBe('auth.rate_limited');
      expect(first.headers.get('retry-after')).toBe('1');
      // Still waiting, even with the right password: the attacker's address learns nothing.
      expect((await loginFrom(A, s.admin.email, s.admin.password)).status).toBe(429);
      // The owner, from another address, signs in meanwhile.
      const owner = await loginFrom(B, s.admin.email, s.admin.password);
      expect(owner.status).toBe(200);
      // Each further wrong password from A doubles its wait.
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        await waitOut(s.admin.email, A);
        expect((await loginFrom(A, s.admin.email, `wrong later ${i}`)).status).toBe(401);
        const held = await loginFrom(A, s.admin.email, s.admin.password);
        expect(held.status).toBe(429);
        waits.push(Number(held.headers.get('retry-after')));
      }
      // 2, 4 and 8 seconds from each failure (a little less by the time the next request is answered).
      waits.forEach((wait, i) => {
        expect(wait).toBeLessThanOrEqual(2 ** (i + 1));
        expect(wait).toBeGreaterThan(2 ** i);
      });
      // And the owner still gets in from B.
      expect((await loginFrom(B, s.admin.email, s.admin.password)).status).toBe(200);
    });

    it('caps the delay at 15 minutes and never locks the account for everyone', async () => {
      const s = await t.seedGroup('Capped');
      const A = '203.0.113.67';
      await t.database.db.insert(rateLimits).values({
        key: `backoff:password:${s.admin.email}:${A}`,
        windowStart: new Date(),
        count: 200,
      });
      const held = await loginFrom(A, s.admin.email, s.admin.password);
      expect(held.status).toBe(429);
      expect(Number(held.headers.get('retry-after'))).toBe(15 * 60);
      expect((await loginFrom('203.0.113.68', s.admin.email, s.admin.password)).status).toBe(200);
    });

    it('counts the account however its address is spelled, and a right password starts the address afresh', async () => {
      const s = await t.seedGroup('Spelling');
      const A = '203.0.113.69';
      expect((await loginFrom(A, s.admin.email.toUpperCase(), 'wrong 1')).status).toBe(401);
      expect((await loginFrom(A, `  ${s.admin.email} `, 'wrong 2')).status).toBe(401);
      expect((await backoffOf(s.admin.email, A))?.count).toBe(2);
      expect((await loginFrom(A, s.admin.email, s.admin.password)).status).toBe(200);
      expect(await backoffOf(s.admin.email, A)).toBeUndefined();
    });

    it('gives one address a budget of wrong passwords across accounts (a spray); other addresses are not affected', async () => {
      const key = 'login:address:203.0.113.7';
      const count = async () =>
        (await t.database.db.select().from(rateLimits).where(eq(rateLimits.key, key)))[0]?.count;
      expect((await loginFrom('203.0.113.7', 'spray-1@example.test', 'wrong')).status).toBe(401);
      expect(await count()).toBe(1);
      // A right password costs no budget: many colleagues behind one NAT address sign in all day.
      expect((await loginFrom('203.0.113.7', g.reader.email, g.reader.password)).status).toBe(200);
      expect(await count()).toBe(1);
      await t.database.db
        .update(rateLimits)
        .set({ count: LOGIN_ADDRESS_BUDGET - 1 })
        .where(eq(rateLimits.key, key));
      expect((await loginFrom('203.0.113.7', 'spray-50@example.test', 'wrong')).status).toBe(401);
      const blocked = await loginFrom('203.0.113.7', 'spray-51@example.test', 'wrong');
      expect(blocked.status).toBe(429);
      expect(await codeOf(blocked)).toBe('auth.rate_limited');
      expect((await loginFrom('203.0.113.8', 'spray-52@example.test', 'wrong')).status).toBe(401);
    });
  });

  describe('the client address behind a TLS proxy', () => {
    const PROXY = '10.1.2.3';
    const auditIpOf = async (userId: string) =>
      (
        await t.database.db
          .select({ ip: auditLog.ip })
          .from(auditLog)
          .where(and(eq(auditLog.targetId, userId), eq(auditLog.action, 'auth.login')))
          .orderBy(desc(auditLog.id))
          .limit(1)
      )[0]?.ip;

    it('ignores X-Forwarded-For when FERRY_TRUSTED_PROXIES is unset or the peer is not in it', async () => {
      const s = await t.seedGroup('No proxy');
      t.deps.trustedProxies = undefined;
      expect(
        (await loginFrom(PROXY, s.admin.email, s.admin.password, { 'x-forwarded-for': '192.0.2.9' })).status,
      ).toBe(200);
      expect(await auditIpOf(s.admin.id)).toBe(PROXY);
      t.deps.trustedProxies = parseTrustedProxies('10.9.0.0/16');
      try {
        expect(
          (await loginFrom(PROXY, s.admin.email, s.admin.password, { 'x-forwarded-for': '192.0.2.9' }))
            .status,
        ).toBe(200);
        expect(await auditIpOf(s.admin.id)).toBe(PROXY);
      } finally {
        t.deps.trustedProxies = undefined;
      }
    });

    it('takes the client from X-Forwarded-For when the peer is a trusted proxy: audit rows and throttling use it', async () => {
      const s = await t.seedGroup('Behind proxy');
      t.deps.trustedProxies = parseTrustedProxies('10.1.0.0/16, 2001:db8::1');
      try {
        // The right-most address not a trusted proxy is the client; what it claimed before is its own story.
        const xff = { 'x-forwarded-for': '6.6.6.6, 192.0.2.10, 10.1.9.9' };
        expect((await loginFrom(PROXY, s.admin.email, s.admin.password, xff)).status).toBe(200);
        expect(await auditIpOf(s.admin.id)).toBe('192.0.2.10');
        expect((await loginFrom(`::ffff:${PROXY}`, s.admin.email, 'wrong', xff)).status).toBe(401);
        expect((await backoffOf(s.admin.email, '192.0.2.10'))?.count).toBe(1);
        // Two clients behind the same proxy are throttled apart.
        for (let i = 0; i < LOGIN_BACKOFF.free; i++)
          await loginFrom('2001:db8::1', s.admin.email, 'wrong', { 'x-forwarded-for': '192.0.2.11' });
        expect(
          (await loginFrom(PROXY, s.admin.email, s.admin.password, { 'x-forwarded-for': '192.0.2.11' }))
            .status,
        ).toBe(429);
        expect(
          (await loginFrom(PROXY, s.admin.email, s.admin.password, { 'x-forwarded-for': '192.0.2.12' }))
            .status,
        ).toBe(200);
      } finally {
        t.deps.trustedProxies = undefined;
      }
    });
  });

  it('rehashes a password stored with older scrypt parameters at sign-in, and the new hash works', async () => {
    // At production cost: the test kit hashes more cheaply (FERRY_PASSWORD_COST in vitest.config.ts).
    const testCost = passwordCost();
    setPasswordCost(PRODUCTION_PASSWORD_COST);
    try {
      const s = await t.seedGroup('Old hash');
      const old = await hashPassword(s.admin.password, { N: 1 << 15, r: 8, p: 1 });
      await t.database.db.update(users).set({ passwordHash: old }).where(eq(users.id, s.admin.id));
      expect((await login(s.admin.email, s.admin.password)).status).toBe(200);
      const [row] = await t.database.db.select().from(users).where(eq(users.id, s.admin.id));
      expect(row!.passwordHash).toMatch(/^scrypt\$131072\$8\$1\$/);
      expect(needsRehash(row!.passwordHash)).toBe(false);
      expect((await login(s.admin.email, s.admin.password)).status).toBe(200);
    } finally {
      setPasswordCost(testCost);
    }
  });
});
