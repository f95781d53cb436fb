import { FerryError } from '@ferry/shared';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { SESSION_TTL_SECONDS, type SessionClaims, verifySessionToken } from '../auth/session.js';
import { authenticateAgent } from '../services/authenticate-agent.js';
import { authenticateSession, type SessionUser } from '../services/authenticate-session.js';
import type { UserActor } from '../services/permissions.js';
import { ctxOf } from './context.js';
import type { AppEnv } from './types.js';

export const SESSION_COOKIE = 'ferry_session';

/** The session cookie both sign-ins set (the API's and the console's): HttpOnly, strict, Secure on https. */
export function setSessionCookie(c: Context<AppEnv>, token: string): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: c.get('deps').publicUrl.startsWith('https:'),
    path: '/',
    maxAge: SESSION_TTL_SECONDS,
  });
}

/** The actor of a signed-in user. */
export function userActor(user: Pick<SessionUser, 'id' | 'groupId' | 'role' | 'isOperator'>): UserActor {
  return {
    kind: 'user',
    userId: user.id,
    groupId: user.groupId,
    role: user.role,
    isOperator: user.isOperator,
  };
}

type Kind = 'user' | 'agent';

/**
 * The active user a verified session names, or a 401 (authenticateSession): deactivated accounts and
 * ended sessions are refused.
 */
export function sessionUser(c: Context<AppEnv>, claims: SessionClaims): Promise<SessionUser> {
  return authenticateSession({ ctx: ctxOf(c), input: { claims } });
}

/**
 * The one door for user sessions, the API's (bearer or cookie) and the console's (cookie): the token
 * verified, then its user loaded. Throws auth.expired_token when the session ran out, auth.invalid_token
 * when it is not valid or has ended; the caller decides what a temporary password may do.
 */
export async function loadSession(
  c: Context<AppEnv>,
  token: string,
): Promise<{ user: SessionUser; expiresAt: Date }> {
  const user = await sessionUser(c, await verifySessionToken(c.get('deps').sessionSecret, token));
  return { user, expiresAt: new Date((decodeJwt(token).exp ?? 0) * 1000) };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A request that a browser sends with the session cookie and that changes state must come from the
 * console's own pages: SameSite=Strict alone lets a sibling subdomain through, and older browsers
 * ignore it. A bearer token is never sent by a browser on its own, so bearer calls are not checked.
 */
function checkCookieOrigin(c: Context<AppEnv>): void {
  if (SAFE_METHODS.has(c.req.method)) return;
  const origin = c.req.header('origin');
  if (origin !== undefined && origin === new URL(c.get('deps').publicUrl).origin) return;
  if (origin === undefined && c.req.header('sec-fetch-site') === 'same-origin') return;
  throw new FerryError(
    'auth.cross_origin',
    "a signed-in browser request that changes something must come from this console's own pages " +
      '(Origin or Sec-Fetch-Site); API clients send Authorization: Bearer instead',
  );
}

/**
 * Authenticates the caller as one of `kinds`: a user session (HS256, bearer or cookie) or an
 * agent's self-signed token (EdDSA, bearer). Deactivated users, ended sessions and revoked gateways are
 * refused, and so is a user who must first replace a temporary password.
 */
export function authenticate(...kinds: Kind[]): MiddlewareHandler<AppEnv> {
  return authenticateWith(kinds, { temporaryPasswordOk: false });
}

/**
 * A signed-in user, even one whose password is temporary: only for changing that password and for
 * signing out, the two things such a user may do.
 */
export function authenticateWithTemporaryPassword(): MiddlewareHandler<AppEnv> {
  return authenticateWith(['user'], { temporaryPasswordOk: true });
}

function authenticateWith(kinds: Kind[], opts: { temporaryPasswordOk: boolean }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const header = c.req.header('authorization');
    const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const cookie = bearer === undefined && kinds.includes('user') ? getCookie(c, SESSION_COOKIE) : undefined;
    const token = bearer ?? cookie;
    if (!token) throw new FerryError('auth.missing_token', 'sign in, or send an Authorization: Bearer token');
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (cause) {
      throw new FerryError('auth.invalid_token', 'token is not a JWT', { cause });
    }
    if (alg === 'EdDSA' && kinds.includes('agent')) {
      c.set('actor', await authenticateAgent({ ctx: ctxOf(c), input: { token, audience: deps.publicUrl } }));
    } else if (alg === 'HS256' && kinds.includes('user')) {
      const { user } = await loadSession(c, token);
      if (cookie !== undefined) checkCookieOrigin(c);
      if (user.passwordMustChange && !opts.temporaryPasswordOk)
        throw new FerryError(
          'auth.password_change_required',
          'this account has a temporary password: change it first (POST /api/v1/me/password)',
        );
      c.set('actor', userActor(user));
    } else {
      throw new FerryError(
        'auth.invalid_token',
        `a token signed with ${alg ?? 'no algorithm'} is not accepted here`,
      );
    }
    await next();
  };
}
