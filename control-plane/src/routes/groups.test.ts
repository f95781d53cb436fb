import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  seedOperator,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { verifyPassword } from '../auth/password.js';
import { auditLog, users } from '../db/schema/index.js';

interface CreatedBody {
  group: { id: string; name: string; createdAt: string };
  admin: { id: string; email: string; role: string };
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(BACKENDS)('groups routes (%s)', (backend) => {
  let t: TestApp;
  let op: SeededGroup;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    op = await seedOperator(t, 'Platform');
    g = await t.seedGroup('Plain group');
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('happy path', () => {
    it('creates a group with its first admin, who can sign in and administer it', async () => {
      const res = await t.request<CreatedBody>('POST', '/api/v1/groups', {
        token: op.admin.token,
        body: {
          name: ' Clinic West ',
          admin: { email: 'Boss@Clinic-West.example', password: 'correct horse battery' },
        },
      });
      expect(res.status).toBe(201);
      expect(res.body.group.name).toBe('Clinic West');
      expect(res.body.admin).toMatchObject({ email: 'boss@clinic-west.example', role: 'admin' });

      const [row] = await t.database.db.select().from(users).where(eq(users.id, res.body.admin.id));
      expect(row).toMatchObject({ groupId: res.body.group.id, role: 'admin', isOperator: false });
      expect(row!.passwordHash).not.toContain('correct horse');
      expect(await verifyPassword('correct horse battery', row!.passwordHash)).toBe(true);

      const login = await t.request<{ token: string; passwordMustChange: boolean }>(
        'POST',
        '/api/v1/auth/login',
        { body: { email: 'boss@clinic-west.example', password: 'correct horse battery' } },
      );
      expect(login.status).toBe(200);
      // The operator chose that password: it is temporary until the admin replaces it.
      expect(login.body.passwordMustChange).toBe(true);
      const changed = await t.request<{ token: string }>('POST', '/api/v1/me/password', {
        token: login.body.token,
        body: { currentPassword: 'correct horse battery', newPassword: 'the boss own password' },
      });
      expect(changed.status, changed.text).toBe(200);
      const facility = await t.request('POST', '/api/v1/facilities', {
        token: changed.body.token,
        body: { name: 'West CT', aeTitle: 'WESTCT' },
      });
      expect(facility.status).toBe(201);

      const audit = await t.database.db
        .select({ action: auditLog.action, actorId: auditLog.actorId })
        .from(auditLog)
        .where(eq(auditLog.groupId, res.body.group.id))
        .orderBy(auditLog.id);
      expect(audit.slice(0, 2)).toEqual([
        { action: 'group.create', actorId: op.admin.id },
        { action: 'user.create', actorId: op.admin.id },
      ]);
    });

    it('lists every group to an operator', async () => {
      const res = await t.request<{ groups: { id: string; name: string }[] }>('GET', '/api/v1/groups', {
        token: op.admin.token,
      });
      expect(res.status).toBe(200);
      const ids = res.body.groups.map((x) => x.id);
      expect(ids).toEqual(expect.arrayContaining([op.groupId, g.groupId]));
    });
  });

  describe('errors', () => {
    it('is for platform operators only: admins and readers get 403', async () => {
      for (const token of [g.admin.token, g.reader.token, op.reader.token]) {
        const list = await t.request<ErrorBody>('GET', '/api/v1/groups', { token });
        expect(list.status).toBe(403);
        const create = await t.request('POST', '/api/v1/groups', {
          token,
          body: { name: 'Sneaky', admin: { email: 'sneaky@example.test', password: 'long enough password' } },
        });
        expect(create.status).toBe(403);
      }
    });

    it('validates the name, e-mail address and password length', async () => {
      const cases: [unknown, RegExp][] = [
        [{ name: '', admin: { email: 'a@example.test', password: 'long enough password' } }, /^name: /],
        [
          { name: 'X', admin: { email: 'not-an-email', password: 'long enough password' } },
          /^admin\.email: /,
        ],
        [{ name: 'X', admin: { email: 'a@example.test', password: 'short' } }, /^admin\.password: /],
        [{ name: 'X' }, /^admin: /],
      ];
      for (const [body, message] of cases) {
        const res = await t.request<ErrorBody>('POST', '/api/v1/groups', { token: op.admin.token, body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.message).toMatch(message);
      }
    });

    it('refuses an e-mail address already in use anywhere with 409, and creates nothing', async () => {
      const before = await t.request<{ groups: unknown[] }>('GET', '/api/v1/groups', {
        token: op.admin.token,
      });
      const res = await t.request<ErrorBody>('POST', '/api/v1/groups', {
        token: op.admin.token,
        body: {
          name: 'Dup',
          admin: { email: g.reader.email.toUpperCase(), password: 'long enough password' },
        },
      });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('resource.conflict');
      expect(res.body.error.message).toContain(g.reader.email);
      const after = await t.request<{ groups: unknown[] }>('GET', '/api/v1/groups', {
        token: op.admin.token,
      });
      expect(after.body.groups.length).toBe(before.body.groups.length);
    });
  });
});

describe.each(BACKENDS)('groups routes: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/groups',
    body: {
      name: 'Security group',
      admin: { email: 'security-admin@example.test', password: 'long enough password' },
    },
    caller: 'operator',
    okStatus: 201,
  });
  runCommonRouteTests(backend, { method: 'GET', path: '/api/v1/groups', caller: 'operator', okStatus: 200 });
});
