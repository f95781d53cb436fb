import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
  postLogin,
  signInConsole,
} from '../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  seedUser,
  type TestApp,
} from '../../../../testkit/control-plane/harness.js';
import { users } from '../../db/schema/index.js';

function decode(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function fieldError(html: string, id: string): string | undefined {
  const m = new RegExp(`<p class="field-error" id="${id}-error" role="alert">([^<]*)</p>`).exec(html);
  return m?.[1] === undefined ? undefined : decode(m[1]);
}

async function userByEmail(t: TestApp, email: string) {
  const [u] = await t.database.db.select().from(users).where(eq(users.email, email));
  return u;
}

describe.each(BACKENDS)('console users (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let admin: ConsoleSession;
  let reader: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Users A');
    b = await t.seedGroup('Users B');
    admin = await signInConsole(t, a.admin);
    reader = await signInConsole(t, a.reader);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists the group's users with role and state, never another group's", async () => {
    const res = await consoleGet(t, '/users', admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Users · Ferry</title>');
    expect(res.html).toContain('aria-label="Users"');
    expect(res.html).toContain(a.admin.email);
    expect(res.html).toContain(a.reader.email);
    expect(res.html).not.toContain(b.admin.email);
    expect(res.html).not.toContain(b.reader.email);
    expect(res.html).toContain(`<label for="role-${a.reader.id}">Role for ${a.reader.email}</label>`);
    // No role or deactivate controls on your own row.
    expect(res.html).not.toContain(`Role for ${a.admin.email}`);
    expect(res.html).toContain('<label for="password">Temporary password</label>');
    expect(res.html).toContain('creating a user with a temporary');
  });

  it('readers get a 403 page, and their POSTs change nothing', async () => {
    expect((await consoleGet(t, '/users', reader)).status).toBe(403);
    const post = await consolePost(t, '/users', reader, {
      email: 'by-reader@example.test',
      role: 'admin',
      password: 'long enough password',
    });
    expect(post.status).toBe(403);
    expect(await userByEmail(t, 'by-reader@example.test')).toBeUndefined();
    const role = await consolePost(t, `/users/${a.reader.id}/role`, reader, { role: 'admin' });
    expect(role.status).toBe(403);
    expect((await userByEmail(t, a.reader.email))!.role).toBe('reader');
  });

  it('creates a user who can then sign in, and must first replace the temporary password', async () => {
    const res = await consolePost(t, '/users', admin, {
      email: 'New.Reader@Example.test',
      role: 'reader',
      password: 'temporary pass 123',
    });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/users?notice=created');
    const u = await userByEmail(t, 'new.reader@example.test');
    expect(u).toMatchObject({ groupId: a.groupId, role: 'reader', deactivatedAt: null });
    const list = await consoleGet(t, res.location!, admin);
    expect(list.html).toContain('User created');
    expect(list.html).toContain('new.reader@example.test');
    const session = await signInConsole(t, {
      email: 'new.reader@example.test',
      password: 'temporary pass 123',
    });
    expect((await consoleGet(t, '/', session)).location).toBe('/account?notice=password-temporary');
    const changed = await consolePost(t, '/account/password', session, {
      currentPassword: 'temporary pass 123',
      newPassword: 'their own password 456',
    });
    expect(changed.location).toBe('/');
    const cookie = (changed.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect((await consoleGet(t, '/', { cookie, csrf: '' })).location).toBe('/worklist');
  });

  it('refusals re-render the form with the reason and the entered values', async () => {
    const short = await consolePost(t, '/users', admin, {
      email: 'short@example.test',
      role: 'admin',
      password: 'too short',
    });
    expect(short.status).toBe(400);
    expect(fieldError(short.html, 'password')).toBe('Temporary password must be at least 12 characters');
    expect(short.html).toContain('value="short@example.test"');
    expect(short.html).toMatch(/<option value="admin" selected="">admin<\/option>/);
    expect(short.html).not.toContain('too short"');
    const email = await consolePost(t, '/users', admin, {
      email: 'not an address',
      role: 'reader',
      password: 'long enough password',
    });
    expect(email.status).toBe(400);
    expect(fieldError(email.html, 'email')).toBe('E-mail must be an e-mail address');
    const taken = await consolePost(t, '/users', admin, {
      email: b.reader.email,
      role: 'reader',
      password: 'long enough password',
    });
    expect(taken.status).toBe(409);
    expect(fieldError(taken.html, 'email')).toBe(
      `Not created: a user with e-mail address "${b.reader.email}" already exists`,
    );
    const role = await consolePost(t, '/users', admin, {
      email: 'odd-role@example.test',
      role: 'owner',
      password: 'long enough password',
    });
    expect(role.status).toBe(400);
    expect(fieldError(role.html, 'role')).toBe('Choose the role admin or reader');
    expect(await userByEmail(t, 'short@example.test')).toBeUndefined();
    expect(await userByEmail(t, 'odd-role@example.test')).toBeUndefined();
  });

  it('changes a role and deactivates a user; the user can then no longer sign in', async () => {
    await consolePost(t, '/users', admin, {
      email: 'promote-me@example.test',
      role: 'reader',
      password: 'long enough password',
    });
    const u = (await userByEmail(t, 'promote-me@example.test'))!;
    const promoted = await consolePost(t, `/users/${u.id}/role`, admin, { role: 'admin' });
    expect(promoted.status).toBe(303);
    expect(promoted.location).toBe('/users?notice=role-changed');
    expect((await userByEmail(t, u.email))!.role).toBe('admin');
    const page = await consoleGet(t, '/users', admin);
    expect(page.html).toContain(`action="/users/${u.id}/deactivate" data-confirm=`);
    const off = await consolePost(t, `/users/${u.id}/deactivate`, admin);
    expect(off.status).toBe(303);
    expect((await userByEmail(t, u.email))!.deactivatedAt).not.toBeNull();
    const after = await consoleGet(t, '/users', admin);
    expect(after.html).toContain('>deactivated</span>');
    expect(after.html).toContain(`action="/users/${u.id}/reactivate"`);
    const login = await postLogin(t, { email: u.email, password: 'long enough password' });
    expect(login.status).not.toBe(303);
    const on = await consolePost(t, `/users/${u.id}/reactivate`, admin);
    expect(on.status).toBe(303);
    expect((await userByEmail(t, u.email))!.deactivatedAt).toBeNull();
  });

  it('resets a password: the temporary one is shown once, the user is signed out and must change it', async () => {
    const u = await seedUser(t, a.groupId, 'reader');
    const theirs = await signInConsole(t, u);
    const page = await consoleGet(t, '/users', admin);
    expect(page.html).toContain(`action="/users/${u.id}/reset-password" data-confirm=`);
    const reset = await consolePost(t, `/users/${u.id}/reset-password`, admin);
    expect(reset.status).toBe(200);
    expect(reset.headers.get('cache-control')).toContain('no-store');
    const temporary = /<code id="temporary-password">([^<]+)<\/code>/.exec(reset.html)?.[1];
    expect(temporary).toBeDefined();
    expect(reset.html).toContain(`Temporary password for ${u.email}`);
    // Not shown again.
    expect((await consoleGet(t, '/users', admin)).html).not.toContain(temporary!);
    // Their session is over; the temporary password signs in, straight to the account page.
    expect((await consoleGet(t, '/worklist', theirs)).location).toMatch(/^\/login/);
    const login = await postLogin(t, { email: u.email, password: decode(temporary!) });
    expect(login.status).toBe(303);
    expect(login.location).toBe('/account?notice=password-temporary');
    // Another group's user is not found; an admin's own row has no reset.
    expect((await consolePost(t, `/users/${b.reader.id}/reset-password`, admin)).status).toBe(404);
    const self = await consolePost(t, `/users/${a.admin.id}/reset-password`, admin);
    expect(self.status).toBe(403);
  });

  it('an admin cannot deactivate themselves: the page says why', async () => {
    const res = await consolePost(t, `/users/${a.admin.id}/deactivate`, admin);
    expect(res.status).toBe(403);
    expect(res.html).toContain('Not changed: you cannot deactivate your own account; ask another admin.');
    expect((await userByEmail(t, a.admin.email))!.deactivatedAt).toBeNull();
  });

  it("another group's user cannot be changed (404), and CSRF-less POSTs are refused", async () => {
    const cross = await consolePost(t, `/users/${b.reader.id}/role`, admin, { role: 'admin' });
    expect(cross.status).toBe(404);
    expect((await userByEmail(t, b.reader.email))!.role).toBe('reader');
    const forged = { cookie: admin.cookie, csrf: 'forged' };
    expect((await consolePost(t, `/users/${a.reader.id}/role`, forged, { role: 'admin' })).status).toBe(403);
    expect((await consolePost(t, `/users/${a.reader.id}/deactivate`, forged)).status).toBe(403);
    expect(
      (
        await consolePost(t, '/users', forged, {
          email: 'forged@example.test',
          role: 'admin',
          password: 'long enough password',
        })
      ).status,
    ).toBe(403);
    const r = (await userByEmail(t, a.reader.email))!;
    expect(r.role).toBe('reader');
    expect(r.deactivatedAt).toBeNull();
    expect(await userByEmail(t, 'forged@example.test')).toBeUndefined();
  });
});
