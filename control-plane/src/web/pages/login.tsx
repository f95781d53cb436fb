import { FerryError } from '@ferry/shared';
import type { Hono } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import { verifySessionToken } from '../../auth/session.js';
import { SESSION_COOKIE, setSessionCookie } from '../../http/auth-middleware.js';
import { ctxOf } from '../../http/context.js';
import { retryAfterOf } from '../../http/errors.js';
import type { AppEnv } from '../../http/types.js';
import { loginUser } from '../../services/login-user.js';
import { checkCsrf } from '../csrf.js';
import { FieldError, Layout } from '../layout.js';

/** Only same-site paths: an open redirect after sign-in would hand the session to a phishing page. */
function safeNext(raw: string | undefined): string {
  return raw && /^\/(?!\/)[\w\-./?=&%]*$/.test(raw) ? raw : '/';
}

function LoginPage(props: { next: string; email?: string; error?: string; expired?: boolean }) {
  return (
    <Layout title="Sign in" notice={props.expired ? 'Your session expired. Sign in again.' : undefined}>
      <form method="post" action="/login" class="card narrow">
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
    c.html(<LoginPage next={safeNext(c.req.query('next'))} expired={c.req.query('expired') === '1'} />),
  );

  web.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const email = typeof form.email === 'string' ? form.email : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    try {
      const { token, user } = await loginUser({
        ctx: ctxOf(c),
        input: { email, password },
        sessionSecret: c.get('deps').sessionSecret,
      });
      setSessionCookie(c, token);
      return c.redirect(next !== '/' ? next : user.role === 'admin' ? '/fleet' : '/worklist', 303);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      c.status(err.code === 'auth.rate_limited' ? 429 : 401);
      const retryAfter = retryAfterOf(err);
      if (retryAfter !== undefined) c.header('retry-after', String(retryAfter));
      return c.html(<LoginPage next={next} email={email} error={err.message} />);
    }
  });

  web.post('/logout', async (c) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) {
      const form = await c.req.parseBody();
      // An expired session may still sign out; a forged form may not.
      try {
        await verifySessionToken(c.get('deps').sessionSecret, token);
        checkCsrf(c.get('deps').sessionSecret, token, form._csrf);
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'auth.expired_token') throw err;
      }
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
}
