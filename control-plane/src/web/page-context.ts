import { FerryError } from '@ferry/shared';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { loadSession, SESSION_COOKIE, userActor } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { countUnacknowledgedErrors } from '../services/count-unacknowledged-errors.js';
import { checkCsrf, csrfTokenFor } from './csrf.js';

/** The signed-in user of a console page, with what every page needs to render its frame. */
export interface PageUser {
  id: string;
  email: string;
  groupId: string;
  role: 'admin' | 'reader';
  isOperator: boolean;
  /** The CSRF token every form of this session carries as `_csrf`. */
  csrf: string;
  /** When the session cookie expires (the console warns before). */
  sessionExpiresAt: Date;
  /** The password is temporary: every page but the account page sends the user there to change it. */
  passwordMustChange: boolean;
  /** Open, unacknowledged errors of the group, for the navigation's Alerts count (admins only). */
  unacknowledgedErrors?: number;
}

const pageUsers = new WeakMap<Context, PageUser>();

/** The page's user; only after requirePage ran. */
export function pageUser(c: Context<AppEnv>): PageUser {
  const u = pageUsers.get(c);
  if (!u) throw new Error('pageUser() outside requirePage');
  return u;
}

function loginRedirect(c: Context<AppEnv>, expired: boolean): Response {
  const next = c.req.method === 'GET' ? c.req.path + (new URL(c.req.url).search || '') : '/';
  const q = new URLSearchParams({ next, ...(expired ? { expired: '1' } : {}) });
  return c.redirect(`/login?${q}`, 303);
}

/** Where a user with a temporary password is sent, whatever page they asked for. */
export const CHANGE_PASSWORD_PAGE = '/account?notice=password-temporary';

/**
 * Guards a console page: a signed-in, active user whose session has not been ended (admins only when
 * `admin`), else a redirect to the sign-in page (with `expired=1` when the session ran out). A user
 * with a temporary password is sent to the account page to change it, unless `temporaryPasswordOk`.
 * POSTs must carry the session's CSRF token. Sets the actor, so services see the same tenant as the
 * API would.
 */
export function requirePage(
  opts: { admin?: boolean; temporaryPasswordOk?: boolean } = {},
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const token = getCookie(c, SESSION_COOKIE);
    if (!token) return loginRedirect(c, false);
    let session: Awaited<ReturnType<typeof loadSession>>;
    try {
      session = await loadSession(c, token);
    } catch (err) {
      // A session that ran out says so on the sign-in page; an invalid or ended one does not.
      if (err instanceof FerryError) return loginRedirect(c, err.code === 'auth.expired_token');
      throw err;
    }
    const { user } = session;
    if (user.passwordMustChange && !opts.temporaryPasswordOk) return c.redirect(CHANGE_PASSWORD_PAGE, 303);
    if (opts.admin && user.role !== 'admin')
      throw new FerryError('auth.forbidden', 'this page is for group admins');
    pageUsers.set(c, {
      id: user.id,
      email: user.email,
      groupId: user.groupId,
      role: user.role,
      isOperator: user.isOperator,
      csrf: csrfTokenFor(deps.sessionSecret, token),
      sessionExpiresAt: session.expiresAt,
      passwordMustChange: user.passwordMustChange,
    });
    c.set('actor', userActor(user));
    if (user.role === 'admin') {
      const u = pageUsers.get(c);
      if (u) u.unacknowledgedErrors = await countUnacknowledgedErrors({ ctx: ctxOf(c) });
    }
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody();
      checkCsrf(deps.sessionSecret, token, form._csrf);
    }
    await next();
  };
}
