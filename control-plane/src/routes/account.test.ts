/**
 * Accounts an admin can keep safe, through the API: changing one's own password, an admin's reset to
 * a temporary password that must be changed before anything else works, sign-out that ends every
 * session and API token of the user (a per-user session version), deactivation doing the same, and
 * cookie-authenticated changes only from the console's own origin.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  SEED_PASSWORD,
  type SeededGroup,
  type SeededUser,
  seedUser,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { verifyPassword } from '../auth/password.js';
import { auditLog, users } from '../db/schema/index.js';

const LOGIN = '/api/v1/auth/login';
const LOGOUT = '/api/v1/auth/logout';
const ME_PASSWORD = '/api/v1/me/password';
const NEW_PASSWORD = 'a brand new password 42';

interface Session {
  token: string;
  expiresIn: number;
  passwordMustChange: boolean;
}

describe.each(BACKENDS)('accounts: passwords, sign-out and sessions (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Accounts');
    other = await t.seedGroup('Other group');
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (email: string, password: string) =>
    t.request<Session>('POST', LOGIN, { body: { email, password } });
  /** A second, independent session of `u` (another browser, or an API token). */
  const signIn = async (u: { email: string; password: string }) => {
    const res = await login(u.email, u.password);
    expect(res.status, res.text).toBe(200);
    return res.body.token;
  };
  const works = async (token: string) => (await t.request('GET', '/api/v1/facilities', { token })).status;
  const fresh = (role: 'admin' | 'reader' = 'reader'): Promise<SeededUser> => seedUser(t, g.groupId, role);

  describe('POST /api/v1/me/password', () => {
    it('changes the password with the right current one and ends every other session and token', async () => {
      const u = await fresh();
      const other1 = await signIn(u);
      const res = await t.request<Session>('POST', ME_PASSWORD, {
        token: u.token,
        body: { currentPassword: u.password, newPassword: NEW_PASSWORD },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.passwordMustChange).toBe(false);
      // The caller goes on with the token it got back; every older one is dead.
      expect(await works(res.body.token)).toBe(200);
      expectError(
        await t.request('GET', '/api/v1/facilities', { token: u.token }),
        401,
        'auth.invalid_token',
      );
      expectError(await t.request('GET', '/api/v1/facilities', { token: other1 }), 401, 'auth.invalid_token');
      // Only the new password signs in.
      expectError(await login(u.email, u.password), 401, 'auth.bad_credentials');
      expect((await login(u.email, NEW_PASSWORD)).status).toBe(200);
      const [audit] = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'user.password_change'), eq(auditLog.targetId, u.id)));
      expect(audit?.actorId).toBe(u.id);
      expect(JSON.stringify(audit)).not.toContain(NEW_PASSWORD);
    });

    it('refuses a wrong current password (403 auth.wrong_password) and changes nothing', async () => {
      const u = await fresh();
      const res = await t.request('POST', ME_PASSWORD, {
        token: u.token,
        body: { currentPassword: 'not my password at all', newPassword: NEW_PASSWORD },
      });
      expectError(res, 403, 'auth.wrong_password');
      expect(await works(u.token)).toBe(200);
      expect((await login(u.email, u.password)).status).toBe(200);
    });

    it('refuses a short new password, or the current one again (400 request.invalid)', async () => {
      const u = await fresh();
      for (const newPassword of ['too short', u.password]) {
        const res = await t.request('POST', ME_PASSWORD, {
          token: u.token,
          body: { currentPassword: u.password, newPassword },
        });
        expectError(res, 400, 'request.invalid');
      }
      expect(await works(u.token)).toBe(200);
    });
  });

  describe('POST /api/v1/users/{id}/reset-password', () => {
    it('answers a temporary password, ends the user’s sessions, and forces a change at the next sign-in', async () => {
      const u = await fresh();
      const other1 = await signIn(u);
      const res = await t.request<{ user: { id: string }; temporaryPassword: string }>(
        'POST',
        `/api/v1/users/${u.id}/reset-password`,
        { token: g.admin.token },
      );
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('cache-control')).toContain('no-store');
      expect(res.body.user.id).toBe(u.id);
      const temporary = res.body.temporaryPassword;
      expect(temporary.length).toBeGreaterThanOrEqual(12);
      expectError(
        await t.request('GET', '/api/v1/facilities', { token: u.token }),
        401,
        'auth.invalid_token',
      );
      expectError(await t.request('GET', '/api/v1/facilities', { token: other1 }), 401, 'auth.invalid_token');
      expectError(await login(u.email, u.password), 401, 'auth.bad_credentials');

      // Signed in with the temporary password: nothing works but changing it (and signing out).
      const signed = await login(u.email, temporary);
      expect(signed.status).toBe(200);
      expect(signed.body.passwordMustChange).toBe(true);
      const temp = signed.body.token;
      for (const [method, path] of [
        ['GET', '/api/v1/facilities'],
        ['GET', '/api/v1/studies'],
        ['GET', '/dicomweb/studies'],
      ] as const)
        expectError(await t.request(method, path, { token: temp }), 403, 'auth.password_change_required');
      const changed = await t.request<Session>('POST', ME_PASSWORD, {
        token: temp,
        body: { currentPassword: temporary, newPassword: NEW_PASSWORD },
      });
      expect(changed.status, changed.text).toBe(200);
      expect(await works(changed.body.token)).toBe(200);
      const [row] = await t.database.db.select().from(users).where(eq(users.id, u.id));
      expect(row!.passwordMustChange).toBe(false);
      expect(await verifyPassword(temporary, row!.passwordHash)).toBe(false);
    });

    it('a user with a temporary password may sign out', async () => {
      const u = await fresh();
      await t.database.db.update(users).set({ passwordMustChange: true }).where(eq(users.id, u.id));
      const temp = await signIn(u);
      expect((await t.request('POST', LOGOUT, { token: temp })).status).toBe(204);
    });

    it('is 404 for a user of another group or none, and changes nothing; admins cannot reset themselves', async () => {
      for (const id of [other.reader.id, unknownId()])
        expectError(
          await t.request('POST', `/api/v1/users/${id}/reset-password`, { token: g.admin.token }),
          404,
          'resource.not_found',
        );
      expect(await works(other.reader.token)).toBe(200);
      expect((await login(other.reader.email, other.reader.password)).status).toBe(200);
      expectError(
        await t.request('POST', `/api/v1/users/${g.admin.id}/reset-password`, { token: g.admin.token }),
        403,
        'auth.forbidden',
      );
    });

    it('a user created by an admin has a temporary password too (the invitation)', async () => {
      const email = `invited-${backend}@example.test`;
      const made = await t.request('POST', '/api/v1/users', {
        token: g.admin.token,
        body: { email, password: 'invitation password', role: 'reader' },
      });
      expect(made.status, made.text).toBe(201);
      const signed = await login(email, 'invitation password');
      expect(signed.body.passwordMustChange).toBe(true);
      expectError(
        await t.request('GET', '/api/v1/facilities', { token: signed.body.token }),
        403,
        'auth.password_change_required',
      );
    });
  });

  describe('POST /api/v1/auth/logout', () => {
    it('ends this session and every other session and token of the user, and clears the cookie', async () => {
      const u = await fresh();
      const second = await signIn(u);
      const res = await t.request('POST', LOGOUT, { token: u.token });
      expect(res.status).toBe(204);
      expectError(
        await t.request('GET', '/api/v1/facilities', { token: u.token }),
        401,
        'auth.invalid_token',
      );
      expectError(await t.request('GET', '/api/v1/facilities', { token: second }), 401, 'auth.invalid_token');
      // Signing in again gives a working session.
      expect(await works(await signIn(u))).toBe(200);
      // Through the cookie (a same-origin browser call) the cookie is cleared too.
      const cookieSession = await signIn(u);
      const viaCookie = await t.request('POST', LOGOUT, {
        headers: { cookie: `ferry_session=${cookieSession}`, origin: t.deps.publicUrl },
      });
      expect(viaCookie.status).toBe(204);
      expect(viaCookie.headers.get('set-cookie')).toMatch(/ferry_session=;/);
    });
  });

  it('deactivation ends every session for good: reactivating does not bring old tokens back', async () => {
    const u = await fresh();
    const second = await signIn(u);
    const patch = (deactivated: boolean) =>
      t.request('PATCH', `/api/v1/users/${u.id}`, { token: g.admin.token, body: { deactivated } });
    expect((await patch(true)).status).toBe(200);
    expect((await patch(false)).status).toBe(200);
    expectError(await t.request('GET', '/api/v1/facilities', { token: u.token }), 401, 'auth.invalid_token');
    expectError(await t.request('GET', '/api/v1/facilities', { token: second }), 401, 'auth.invalid_token');
    expect(await works(await signIn(u))).toBe(200);
  });

  describe('cookie-authenticated changes come from the console’s own origin', () => {
    const post = (session: string, headers: Record<string, string>) =>
      t.request('POST', '/api/v1/facilities', {
        body: { name: `Facility ${Math.random()}`, aeTitle: `F${Math.floor(Math.random() * 1e9)}` },
        headers: { cookie: `ferry_session=${session}`, ...headers },
      });

    it('refuses a cross-origin cookie POST (403 auth.cross_origin), and one without Origin or Sec-Fetch-Site', async () => {
      expectError(await post(g.admin.token, { origin: 'https://evil.example' }), 403, 'auth.cross_origin');
      expectError(
        await post(g.admin.token, { origin: 'http://ferry.test.evil.example' }),
        403,
        'auth.cross_origin',
      );
      expectError(await post(g.admin.token, { 'sec-fetch-site': 'same-site' }), 403, 'auth.cross_origin');
      expectError(await post(g.admin.token, { 'sec-fetch-site': 'cross-site' }), 403, 'auth.cross_origin');
      expectError(await post(g.admin.token, {}), 403, 'auth.cross_origin');
      expectError(
        await t.request('POST', LOGOUT, {
          headers: { cookie: `ferry_session=${g.reader.token}`, origin: 'https://evil.example' },
        }),
        403,
        'auth.cross_origin',
      );
      expect(await works(g.reader.token)).toBe(200);
    });

    it('accepts the same origin (Origin, or Sec-Fetch-Site: same-origin); reads and bearer calls are not checked', async () => {
      expect((await post(g.admin.token, { origin: t.deps.publicUrl })).status).toBe(201);
      expect((await post(g.admin.token, { 'sec-fetch-site': 'same-origin' })).status).toBe(201);
      const read = await t.request('GET', '/api/v1/facilities', {
        headers: { cookie: `ferry_session=${g.admin.token}`, origin: 'https://evil.example' },
      });
      expect(read.status).toBe(200);
      const bearer = await t.request('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: 'Bearer facility', aeTitle: 'BEARER' },
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      });
      expect(bearer.status, bearer.text).toBe(201);
    });
  });
});

describe.each(BACKENDS)('account routes: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: ME_PASSWORD,
    body: { currentPassword: SEED_PASSWORD, newPassword: NEW_PASSWORD },
    caller: 'user',
    otherGroup: 'none',
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: LOGOUT,
    caller: 'user',
    otherGroup: 'none',
    okStatus: 204,
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/users/${ids.userId}/reset-password`,
    caller: 'admin',
    resourceOfGroup: async (t, g) => ({ userId: (await seedUser(t, g.groupId, 'reader')).id }),
  });
});
