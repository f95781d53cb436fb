import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { decodeProtectedHeader } from 'jose';
import { verifyAgentToken } from '../auth/agent-token.js';
import { verifySessionToken } from '../auth/session.js';
import { users } from '../db/schema/index.js';
import type { AppEnv } from './types.js';

export const SESSION_COOKIE = 'ferry_session';

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
      c.set('actor', {
        kind: 'user',
        userId: user.id,
        groupId: user.groupId,
        role: user.role,
        isOperator: user.isOperator,
      });
    } else {
      throw new FerryError(
        'auth.invalid_token',
        `a token signed with ${alg ?? 'no algorithm'} is not accepted here`,
      );
    }
    await next();
  };
}
