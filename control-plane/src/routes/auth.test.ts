import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySessionToken } from '../auth/session.js';
import { auditLog, rateLimits, users } from '../db/schema/index.js';
import { authenticate } from '../http/auth-middleware.js';
import { BACKENDS, createTestApp, type SeededGroup, type TestApp } from '../testing/harness.js';
import { expectError } from '../testing/security-suite.js';

const LOGIN = '/api/v1/auth/login';
const WHOAMI = '/api/v1/test/whoami';

/**
 * Login is public, so the common security suite does not apply; what protects it is the rate limit,
 * the uniform answer for unknown accounts and the session cookie's flags.
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
      expect(Object.keys(res.body).sort()).toEqual(['expiresIn', 'token']);
      expect(res.body.expiresIn).toBe(1800);
      const token = res.body.token as string;
      expect(await verifySessionToken(t.deps.sessionSecret, token)).toMatchObject({
        sub: g.admin.id,
        grp: g.groupId,
        role: 'admin',
        op: false,
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

  describe('rate limits', () => {
    it('refuses the 11th wrong attempt for one account (429 auth.rate_limited), even with the right password', async () => {
      const s = await t.seedGroup('Limited');
      for (let i = 1; i <= 10; i++) {
        expectError(await login(s.admin.email, `wrong ${i}`), 401, 'auth.bad_credentials');
      }
      expectError(await login(s.admin.email, 'wrong 11'), 429, 'auth.rate_limited');
      expectError(await login(s.admin.email, s.admin.password), 429, 'auth.rate_limited');
      // Another account is not affected.
      expect((await login(s.reader.email, s.reader.password)).status).toBe(200);
    });

    const countOf = async (key: string) =>
      (await t.database.db.select().from(rateLimits).where(eq(rateLimits.key, key)))[0]?.count;
    /** Puts `count` attempts on the clock for `key` directly: each real attempt costs a full scrypt. */
    const preload = (key: string, count: number) =>
      t.database.db.insert(rateLimits).values({ key, windowStart: new Date(), count });

    it('counts the account however its address is spelled', async () => {
      const s = await t.seedGroup('Spelling');
      expect((await login(s.admin.email.toUpperCase(), 'wrong 1')).status).toBe(401);
      expect((await login(`  ${s.admin.email} `, 'wrong 2')).status).toBe(401);
      expect(await countOf(`login:account:${s.admin.email}`)).toBe(2);
    });

    it('clears the count on a successful sign-in', async () => {
      const s = await t.seedGroup('Cleared');
      await preload(`login:account:${s.admin.email}`, 9);
      expect((await login(s.admin.email, s.admin.password)).status).toBe(200);
      expect(await countOf(`login:account:${s.admin.email}`)).toBeUndefined();
      expectError(await login(s.admin.email, 'wrong again'), 401, 'auth.bad_credentials');
      expect(await countOf(`login:account:${s.admin.email}`)).toBe(1);
    });

    it('starts a new window once the old one is over', async () => {
      const s = await t.seedGroup('Window');
      await t.database.db.insert(rateLimits).values({
        key: `login:account:${s.admin.email}`,
        windowStart: new Date(Date.now() - 16 * 60_000),
        count: 10,
      });
      expect((await login(s.admin.email, s.admin.password)).status).toBe(200);
    });

    it('limits one client address to 50 attempts across accounts', async () => {
      // app.request has no socket; hand @hono/node-server's conninfo the bindings a real server would.
      const from = (remoteAddress: string) => ({
        incoming: { socket: { remoteAddress, remotePort: 40000, remoteFamily: 'IPv4' } },
      });
      const attempt = (email: string, address: string) =>
        t.app.request(
          `${t.deps.publicUrl}${LOGIN}`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, password: 'wrong' }),
          },
          from(address),
        );
      expect((await attempt('spray-1@example.test', '203.0.113.7')).status).toBe(401);
      expect(await countOf('login:address:203.0.113.7')).toBe(1);
      await t.database.db
        .update(rateLimits)
        .set({ count: 49 })
        .where(eq(rateLimits.key, 'login:address:203.0.113.7'));
      expect((await attempt('spray-50@example.test', '203.0.113.7')).status).toBe(401);
      const blocked = await attempt('spray-51@example.test', '203.0.113.7');
      expect(blocked.status).toBe(429);
      expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe('auth.rate_limited');
      expect((await attempt('spray-52@example.test', '203.0.113.8')).status).toBe(401);
    });
  });
});
