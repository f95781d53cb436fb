/**
 * Drives the web console in process, as a browser would at the HTTP level: sign in through the login
 * form, keep the session cookie, read the CSRF token from a rendered form, post forms. Browser
 * journeys (real Chromium) live in test/e2e; these are for page-level tests on both backends.
 */
import { type SeededUser, TEST_PUBLIC_URL, type TestApp } from './harness.js';

export interface ConsoleSession {
  cookie: string;
  csrf: string;
}

export interface ConsoleResponse {
  status: number;
  html: string;
  headers: Headers;
  /** The Location header of a redirect, as a path. */
  location: string | undefined;
}

async function send(
  t: TestApp,
  method: string,
  path: string,
  opts: { cookie?: string; form?: Record<string, string> } = {},
): Promise<ConsoleResponse> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  let body: string | undefined;
  if (opts.form) {
    body = new URLSearchParams(opts.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const res = await t.app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    redirect: 'manual',
  });
  const location = res.headers.get('location') ?? undefined;
  return {
    status: res.status,
    html: await res.text(),
    headers: res.headers,
    location: location
      ? new URL(location, TEST_PUBLIC_URL).pathname + new URL(location, TEST_PUBLIC_URL).search
      : undefined,
  };
}

/** Text as the page shows it: hono/jsx's entity escapes undone. */
export function decodeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The `_csrf` value of the first form on a page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF field on this page');
  return m[1];
}

/** The sign-in form's pre-session CSRF pair, as GET /login hands it to a browser: its cookie and `_csrf` field. */
export async function loginForm(t: TestApp): Promise<ConsoleSession> {
  const page = await send(t, 'GET', '/login');
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { cookie, csrf: csrfOf(page.html) };
}

/** Posts the sign-in form as a browser does: after loading it, with its CSRF cookie and token. */
export async function postLogin(t: TestApp, fields: Record<string, string>): Promise<ConsoleResponse> {
  const form = await loginForm(t);
  return send(t, 'POST', '/login', { cookie: form.cookie, form: { _csrf: form.csrf, ...fields } });
}

/** Signs `user` in through POST /login and reads the CSRF token from the landing page. */
export async function signInConsole(
  t: TestApp,
  user: Pick<SeededUser, 'email' | 'password'>,
): Promise<ConsoleSession> {
  const res = await postLogin(t, { email: user.email, password: user.password, next: '/' });
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status} ${res.html.slice(0, 300)}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] ?? '';
  const landing = await send(t, 'GET', '/account', { cookie });
  // The sign-out form is on every page, with the session's token.
  return { cookie, csrf: csrfOf(landing.html) };
}

export function consoleGet(t: TestApp, path: string, session?: ConsoleSession): Promise<ConsoleResponse> {
  return send(t, 'GET', path, session ? { cookie: session.cookie } : {});
}

/** Posts a form with the session's CSRF token (unless `form._csrf` is given). */
export function consolePost(
  t: TestApp,
  path: string,
  session: ConsoleSession | undefined,
  form: Record<string, string> = {},
): Promise<ConsoleResponse> {
  return send(t, 'POST', path, {
    ...(session ? { cookie: session.cookie } : {}),
    form: { ...(session ? { _csrf: session.csrf } : {}), ...form },
  });
}
