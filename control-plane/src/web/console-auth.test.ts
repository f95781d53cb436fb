import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consoleGet,
  consolePost,
  csrfOf,
  loginForm,
  postLogin,
  signInConsole,
} from '../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  seedUser,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { users } from '../db/schema/index.js';
import { CONTENT_SECURITY_POLICY } from './csp.js';

describe.each(BACKENDS)('console sign-in, session and CSRF (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Console A');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the sign-in page with a strict CSP and same-origin assets only', async () => {
    const res = await consoleGet(t, '/login');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.html).toContain('<label for="email">');
    expect(res.html).not.toMatch(/<script>(?!<\/script>)/);
    expect(res.html).not.toMatch(/(src|href)="https?:\/\//);
    const css = await consoleGet(t, '/assets/app.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect((await consoleGet(t, '/assets/..%2Fpackage.json')).status).toBe(404);
  });

  it('a wrong password re-renders the form with the reason; the right one sets an HttpOnly cookie', async () => {
    const bad = await postLogin(t, { email: a.admin.email, password: 'wrong password!!' });
    expect(bad.status).toBe(401);
    expect(bad.html).toContain('role="alert"');
    const ok = await postLogin(t, { email: a.admin.email, password: a.admin.password, next: '/' });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/fleet');
    const cookie = ok.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
  });

  it('pages without a session redirect to sign in, keeping where the user was going', async () => {
    const res = await consoleGet(t, '/account?tab=session');
    expect(res.status).toBe(303);
    expect(res.location).toBe(`/login?next=${encodeURIComponent('/account?tab=session')}`);
  });

  it('an open redirect through `next` is refused', async () => {
    const ok = await postLogin(t, {
      email: a.reader.email,
      password: a.reader.password,
      next: '//evil.example/',
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/worklist');
  });

  it('a form without the CSRF token is refused and changes nothing', async () => {
    const session = await signInConsole(t, a.admin);
    const forged = await consolePost(t, '/logout', { cookie: session.cookie, csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.html).toContain('did not come from this console');
    const out = await consolePost(t, '/logout', session);
    expect(out.status).toBe(303);
    expect(out.location).toBe('/login');
    expect(out.headers.get('set-cookie')).toMatch(/ferry_session=;/);
  });

  it('the sign-in form carries a CSRF token bound to a cookie of its own; without both it is refused', async () => {
    const form = await loginForm(t);
    expect(form.cookie).toMatch(/^ferry_login_csrf=[\w-]+$/);
    const fields = { email: a.admin.email, password: a.admin.password, next: '/' };
    // No token, a wrong token, the token without its cookie, or another browser's cookie: refused, no session.
    const other = await loginForm(t);
    for (const [cookie, csrf] of [
      [form.cookie, undefined],
      [form.cookie, 'forged'],
      [undefined, form.csrf],
      [other.cookie, form.csrf],
    ] as const) {
      const res = await consolePost(
        t,
        '/login',
        cookie ? { cookie, csrf: csrf ?? '' } : undefined,
        csrf === undefined ? fields : { ...fields, _csrf: csrf },
      );
      expect(res.status).toBe(403);
      expect(res.html).toContain('did not come from this console');
      expect(res.headers.get('set-cookie') ?? '').not.toContain('ferry_session=');
      // The refusal hands out a fresh form, so a person can simply sign in again.
      expect(csrfOf(res.html)).toBeTruthy();
    }
    const ok = await consolePost(t, '/login', form, fields);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('set-cookie')).toContain('ferry_session=');
  });

  it('signing out ends the session for good: the old cookie no longer opens a page', async () => {
    const u = await seedUser(t, a.groupId, 'reader');
    const session = await signInConsole(t, u);
    const other = await signInConsole(t, u);
    expect((await consoleGet(t, '/account', session)).status).toBe(200);
    expect((await consolePost(t, '/logout', session)).status).toBe(303);
    for (const s of [session, other]) {
      const after = await consoleGet(t, '/account', s);
      expect(after.status).toBe(303);
      expect(after.location).toMatch(/^\/login/);
    }
  });

  it('a temporary password sends every page to the account page until it is changed there', async () => {
    const u = await seedUser(t, a.groupId, 'reader');
    await t.database.db.update(users).set({ passwordMustChange: true }).where(eq(users.id, u.id));
    const signed = await postLogin(t, { email: u.email, password: u.password, next: '/worklist' });
    expect(signed.status).toBe(303);
    expect(signed.location).toBe('/account?notice=password-temporary');
    const cookie = (signed.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    for (const path of ['/worklist', '/', '/studies/1.2.3']) {
      const res = await consoleGet(t, path, { cookie, csrf: '' });
      expect(res.status, path).toBe(303);
      expect(res.location, path).toBe('/account?notice=password-temporary');
    }
    const account = await consoleGet(t, '/account', { cookie, csrf: '' });
    expect(account.status).toBe(200);
    expect(account.html).toContain('Your password is temporary');
    const session = { cookie, csrf: csrfOf(account.html) };
    const wrong = await consolePost(t, '/account/password', session, {
      currentPassword: 'not the password',
      newPassword: 'my own new password',
    });
    expect(wrong.status).toBe(403);
    expect(wrong.html).toContain('the current password is wrong');
    const changed = await consolePost(t, '/account/password', session, {
      currentPassword: u.password,
      newPassword: 'my own new password',
    });
    expect(changed.status).toBe(303);
    expect(changed.location).toBe('/');
    const newCookie = (changed.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect((await consoleGet(t, '/worklist', { cookie: newCookie, csrf: '' })).status).toBe(200);
    // The session used to change it was ended with every other one.
    expect((await consoleGet(t, '/worklist', session)).location).toMatch(/^\/login/);
  });

  it('a reader lands on the worklist', async () => {
    const session = await signInConsole(t, a.reader);
    const home = await consoleGet(t, '/', session);
    expect(home.location).toBe('/worklist');
  });
});
