import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleGet, consolePost, signInConsole } from '../testing/console.js';
import { BACKENDS, createTestApp, type SeededGroup, type TestApp } from '../testing/harness.js';
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
    const bad = await consolePost(t, '/login', undefined, {
      email: a.admin.email,
      password: 'wrong password!!',
    });
    expect(bad.status).toBe(401);
    expect(bad.html).toContain('role="alert"');
    const ok = await consolePost(t, '/login', undefined, {
      email: a.admin.email,
      password: a.admin.password,
      next: '/',
    });
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
    const ok = await consolePost(t, '/login', undefined, {
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

  it('a reader lands on the worklist', async () => {
    const session = await signInConsole(t, a.reader);
    const home = await consoleGet(t, '/', session);
    expect(home.location).toBe('/worklist');
  });
});
