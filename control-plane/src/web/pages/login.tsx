import { randomBytes } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { type SessionClaims, verifySessionToken } from '../../auth/session.js';
import { SESSION_COOKIE, sessionUser, setSessionCookie, userActor } from '../../edge/auth-middleware.js';
import { ctxOf } from '../../edge/context.js';
import { retryAfterOf } from '../../edge/errors.js';
import type { AppEnv } from '../../edge/types.js';
import { loginUser } from '../../services/login-user.js';
import { logoutUser } from '../../services/logout-user.js';
import { FieldError } from '../components/field.js';
import { checkCsrf, csrfTokenFor } from '../csrf.js';
import { Layout } from '../layout.js';
import { CHANGE_PASSWORD_PAGE } from '../page-context.js';

/**
 * The sign-in form's CSRF token before there is a session: a random value in a cookie of its own, and
 * its HMAC in the form (a signed double submit). Another site can neither read the cookie nor make
 * the HMAC, so it cannot sign a victim's browser into an account of its choosing.
 */
const LOGIN_CSRF_COOKIE = 'ferry_login_csrf';
const loginCsrfOf = (secret: Uint8Array, nonce: string) => csrfTokenFor(secret, `login:${nonce}`);

/** The login CSRF nonce this browser already has, or a new one set as its cookie. */
function loginNonce(c: Context<AppEnv>): string {
  const existing = getCookie(c, LOGIN_CSRF_COOKIE);
  if (existing && /^[\w-]{22,64}$/.test(existing)) return existing;
  const nonce = randomBytes(24).toString('base64url');
  setCookie(c, LOGIN_CSRF_COOKIE, nonce, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: c.get('deps').publicUrl.startsWith('https:'),
    path: '/login',
  });
  return nonce;
}

/** Only same-site paths: an open redirect after sign-in would hand the session to a phishing page. */
function safeNext(raw: string | undefined): string {
  return raw && /^\/(?!\/)[\w\-./?=&%]*$/.test(raw) ? raw : '/';
}

function LoginPage(props: { next: string; csrf: string; email?: string; error?: string; expired?: boolean }) {
  return (
    <Layout title="Sign in" notice={props.expired ? 'Your session expired. Sign in again.' : undefined}>
      <form method="post" action="/login" class="card narrow">
        <input type="hidden" name="_csrf" value={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <label for="email">Email</label>
        <input
          id="email"
          name="email"
          type="email"
          autocomplete="username"
          required
          value={props.email ?? ''}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          aria-describedby={props.error ? 'login-error' : undefined}
        />
        <FieldError id="login-error" message={props.error} />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}

export function registerLogin(web: Hono<AppEnv>): void {
  web.get('/login', (c) =>
    c.html(
      <LoginPage
        next={safeNext(c.req.query('next'))}
        csrf={loginCsrfOf(c.get('deps').sessionSecret, loginNonce(c))}
        expired={c.req.query('expired') === '1'}
      />,
    ),
  );

  web.post('/login', async (c) => {
    const secret = c.get('deps').sessionSecret;
    const form = await c.req.parseBody();
    const email = typeof form.email === 'string' ? form.email : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const presentedNonce = getCookie(c, LOGIN_CSRF_COOKIE);
    try {
      if (!presentedNonce) throw new FerryError('auth.forbidden', 'no sign-in form was loaded');
      checkCsrf(secret, `login:${presentedNonce}`, form._csrf);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      c.status(403);
      return c.html(
        <LoginPage
          next={next}
          csrf={loginCsrfOf(secret, loginNonce(c))}
          email={email}
          error="This sign-in form expired or did not come from this console. Sign in again."
        />,
      );
    }
    try {
      const { token, user } = await loginUser({
        ctx: ctxOf(c),
        input: { email, password },
        sessionSecret: secret,
      });
      setSessionCookie(c, token);
      deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/login' });
      if (user.passwordMustChange) return c.redirect(CHANGE_PASSWORD_PAGE, 303);
      return c.redirect(next !== '/' ? next : user.role === 'admin' ? '/fleet' : '/worklist', 303);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      c.status(err.code === 'auth.rate_limited' ? 429 : 401);
      const retryAfter = retryAfterOf(err);
      if (retryAfter !== undefined) c.header('retry-after', String(retryAfter));
      return c.html(
        <LoginPage
          next={next}
          csrf={loginCsrfOf(secret, presentedNonce)}
          email={email}
          error={err.message}
        />,
      );
    }
  });

  web.post('/logout', async (c) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) {
      const deps = c.get('deps');
      const form = await c.req.parseBody();
      // An expired session may still sign out; a forged form may not.
      let claims: SessionClaims | undefined;
      try {
        claims = await verifySessionToken(deps.sessionSecret, token);
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'auth.expired_token') throw err;
      }
      if (claims) {
        checkCsrf(deps.sessionSecret, token, form._csrf);
        // Signing out ends every session of the user; one that already ended has nothing left to end.
        const user = await sessionUser(c, claims).catch(() => undefined);
        if (user) {
          c.set('actor', userActor(user));
          await logoutUser({ ctx: ctxOf(c) });
        }
      }
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
}
