import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { verifyPassword } from '../auth/password.js';
import { auditLog, users } from '../db/schema/index.js';

interface UserBody {
  id: string;
  email: string;
  role: 'admin' | 'reader';
  isOperator: boolean;
  createdAt: string;
  deactivatedAt: string | null;
}
interface ErrorBody {
  error: { code: string; message: string };
}

const PASSWORD = 'a long enough password';

describe.each(BACKENDS)('users routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let n = 0;
  const email = () => `user${++n}-${backend}@example.test`;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Users group');
    other = await t.seedGroup('Other group');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function create(group: SeededGroup, role: 'admin' | 'reader' = 'reader'): Promise<UserBody> {
    const res = await t.request<UserBody>('POST', '/api/v1/users', {
      token: group.admin.token,
      body: { email: email(), password: PASSWORD, role },
    });
    expect(res.status, res.text).toBe(201);
    return res.body;
  }

  describe('happy path', () => {
    it('creates a user in the admin’s own group with a hashed password', async () => {
      const res = await t.request<UserBody>('POST', '/api/v1/users', {
        token: g.admin.token,
        body: { email: 'New.Person@Example.TEST', password: PASSWORD, role: 'reader' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        email: 'new.person@example.test',
        role: 'reader',
        isOperator: false,
        deactivatedAt: null,
      });
      expect(res.body).not.toHaveProperty('passwordHash');
      const [row] = await t.database.db.select().from(users).where(eq(users.id, res.body.id));
      expect(row!.groupId).toBe(g.groupId);
      expect(await verifyPassword(PASSWORD, row!.passwordHash)).toBe(true);
      const login = await t.request('POST', '/api/v1/auth/login', {
        body: { email: 'new.person@example.test', password: PASSWORD },
      });
      expect(login.status).toBe(200);
    });

    it('lists only the group’s users, without password hashes', async () => {
      const theirs = await create(other);
      const res = await t.request<{ users: UserBody[] }>('GET', '/api/v1/users', { token: g.admin.token });
      expect(res.status).toBe(200);
      const ids = res.body.users.map((u) => u.id);
      expect(ids).toEqual(expect.arrayContaining([g.admin.id, g.reader.id]));
      expect(ids).not.toContain(theirs.id);
      expect(res.text).not.toContain('scrypt');
    });

    it('changes a role, deactivates (signing the user out) and reactivates, auditing each change', async () => {
      const u = await create(g);
      const promoted = await t.request<UserBody>('PATCH', `/api/v1/users/${u.id}`, {
        token: g.admin.token,
        body: { role: 'admin' },
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body.role).toBe('admin');

      const login = await t.request<{ token: string }>('POST', '/api/v1/auth/login', {
        body: { email: u.email, password: PASSWORD },
      });
      expect(login.status).toBe(200);

      const off = await t.request<UserBody>('PATCH', `/api/v1/users/${u.id}`, {
        token: g.admin.token,
        body: { deactivated: true },
      });
      expect(off.status).toBe(200);
      expect(off.body.deactivatedAt).not.toBeNull();
      const refused = await t.request('GET', '/api/v1/facilities', { token: login.body.token });
      expect(refused.status).toBe(401);

      const on = await t.request<UserBody>('PATCH', `/api/v1/users/${u.id}`, {
        token: g.admin.token,
        body: { deactivated: false },
      });
      expect(on.body.deactivatedAt).toBeNull();

      const audit = await t.database.db
        .select({ action: auditLog.action, details: auditLog.details })
        .from(auditLog)
        .where(eq(auditLog.targetId, u.id))
        .orderBy(auditLog.id);
      expect(audit.map((a) => a.action).filter((a) => a.startsWith('user.'))).toEqual([
        'user.create',
        'user.update',
        'user.deactivate',
        'user.update',
      ]);
      expect(audit[1]!.details).toMatchObject({ changes: { role: { from: 'reader', to: 'admin' } } });
    });
  });

  describe('errors', () => {
    it('refuses a duplicate e-mail address, in any group and any case, with 409', async () => {
      for (const address of [g.reader.email, other.admin.email.toUpperCase()]) {
        const res = await t.request<ErrorBody>('POST', '/api/v1/users', {
          token: g.admin.token,
          body: { email: address, password: PASSWORD, role: 'reader' },
        });
        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('resource.conflict');
      }
    });

    it('validates e-mail, password length, role and unknown fields', async () => {
      const cases: [unknown, RegExp][] = [
        [{ email: 'nope', password: PASSWORD, role: 'reader' }, /^email: /],
        [{ email: email(), password: '12345678901', role: 'reader' }, /^password: /],
        [{ email: email(), password: PASSWORD, role: 'owner' }, /^role: /],
        [{ email: email(), password: PASSWORD, role: 'admin', isOperator: true }, /isOperator/],
        [{ email: email(), password: PASSWORD, role: 'admin', groupId: other.groupId }, /groupId/],
      ];
      for (const [body, message] of cases) {
        const res = await t.request<ErrorBody>('POST', '/api/v1/users', { token: g.admin.token, body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.message).toMatch(message);
      }
      const u = await create(g);
      const empty = await t.request('PATCH', `/api/v1/users/${u.id}`, { token: g.admin.token, body: {} });
      expect(empty.status).toBe(400);
      const twelve = await t.request('POST', '/api/v1/users', {
        token: g.admin.token,
        body: { email: email(), password: '123456789012', role: 'reader' },
      });
      expect(twelve.status).toBe(201);
    });

    it('does not let an admin deactivate or demote themselves', async () => {
      const off = await t.request<ErrorBody>('PATCH', `/api/v1/users/${g.admin.id}`, {
        token: g.admin.token,
        body: { deactivated: true },
      });
      expect(off.status).toBe(403);
      expect(off.body.error.message).toMatch(/your own account/);
      const demote = await t.request('PATCH', `/api/v1/users/${g.admin.id}`, {
        token: g.admin.token,
        body: { role: 'reader' },
      });
      expect(demote.status).toBe(403);
      const still = await t.request('GET', '/api/v1/users', { token: g.admin.token });
      expect(still.status).toBe(200);
    });

    it('answers 404 for another group’s user and an unknown one', async () => {
      for (const id of [other.reader.id, unknownId()]) {
        const res = await t.request<ErrorBody>('PATCH', `/api/v1/users/${id}`, {
          token: g.admin.token,
          body: { deactivated: true },
        });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('resource.not_found');
      }
      const [row] = await t.database.db.select().from(users).where(eq(users.id, other.reader.id));
      expect(row!.deactivatedAt).toBeNull();
    });

    it('gives readers 403 on every users route', async () => {
      const post = await t.request('POST', '/api/v1/users', {
        token: g.reader.token,
        body: { email: email(), password: PASSWORD, role: 'admin' },
      });
      expect(post.status).toBe(403);
      const list = await t.request('GET', '/api/v1/users', { token: g.reader.token });
      expect(list.status).toBe(403);
      const patch = await t.request('PATCH', `/api/v1/users/${g.reader.id}`, {
        token: g.reader.token,
        body: { role: 'admin' },
      });
      expect(patch.status).toBe(403);
    });
  });
});

describe.each(BACKENDS)('users routes: common security (%s)', (backend) => {
  const userOf = async (t: TestApp, g: SeededGroup) => {
    const res = await t.request<UserBody>('POST', '/api/v1/users', {
      token: g.admin.token,
      body: { email: `member-${g.groupId}@example.test`, password: PASSWORD, role: 'reader' },
    });
    return { userId: res.body.id };
  };
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/users',
    // E-mail addresses are unique platform-wide: every call creates its own.
    body: () => ({ email: `new-${randomUUID()}@example.test`, password: PASSWORD, role: 'reader' }),
    caller: 'admin',
    otherGroup: 'filtered',
    okStatus: 201,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/users',
    caller: 'admin',
    resourceOfGroup: userOf,
  });
  runCommonRouteTests(backend, {
    method: 'PATCH',
    path: (ids) => `/api/v1/users/${ids.userId}`,
    body: { role: 'admin' },
    caller: 'admin',
    resourceOfGroup: userOf,
  });
});
