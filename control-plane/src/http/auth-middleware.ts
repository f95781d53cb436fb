import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { decodeProtectedHeader } from 'jose';
import { verifyAgentToken } from '../auth/agent-token.js';
import { SESSION_TTL_SECONDS, verifySessionToken } from '../auth/session.js';
import type { Actor } from '../context.js';
import { users } from '../db/schema/index.js';
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

/** The actor of a signed-in user row. */
export function userActor(user: typeof users.$inferSelect): Extract<Actor, { kind: 'user' }> {
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
 * Authenticates the caller as one of `kinds`: a user session (HS256, bearer or cookie) or an
 * agent's self-signed token (EdDSA, bearer). Deactivated users and revoked gateways are refused.
 */
export function authenticate(...kinds: Kind[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const header = c.req.header('authorization');
    const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const token = bearer ?? (kinds.includes('user') ? getCookie(c, SESSION_COOKIE) : undefined);
    if (!token) throw new FerryError('auth.missing_token', 'sign in, or send an Authorization: Bearer token');
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (cause) {
      throw new FerryError('auth.invalid_token', 'token is not a JWT', { cause });
    }
    if (alg === 'EdDSA' && kinds.includes('agent')) {
      c.set('actor', await verifyAgentToken(deps.database.db, token, deps.publicUrl));
    } else if (alg === 'HS256' && kinds.includes('user')) {
      const claims = await verifySessionToken(deps.sessionSecret, token);
      const [user] = await deps.database.db.select().from(users).where(eq(users.id, claims.sub));
      if (!user || user.deactivatedAt)
        throw new FerryError('auth.invalid_token', 'this account is deactivated');
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
