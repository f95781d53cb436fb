import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { SessionClaims } from '../auth/session.js';
import type { Ctx } from '../context.js';
import { users } from '../db/schema/index.js';
import type { UserActor } from './permissions.js';

/** The user a live session names, as the API and the console see them. */
export interface SessionUser {
  id: string;
  email: string;
  groupId: string;
  role: UserActor['role'];
  isOperator: boolean;
  /** The password is temporary: the user may only change it (or sign out). */
  passwordMustChange: boolean;
}

/**
 * The active user a verified session names, or auth.invalid_token: deactivated accounts and sessions
 * issued under an older session version (signed out, password changed or reset, deactivated since)
 * are refused. The one lookup behind both sign-in doors (edge/auth-middleware.ts loadSession).
 */
export async function authenticateSession({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { claims: SessionClaims };
}): Promise<SessionUser> {
  const { claims } = input;
  const [user] = await ctx.db
    .select({
      id: users.id,
      email: users.email,
      groupId: users.groupId,
      role: users.role,
      isOperator: users.isOperator,
      passwordMustChange: users.passwordMustChange,
      deactivatedAt: users.deactivatedAt,
      sessionVersion: users.sessionVersion,
    })
    .from(users)
    .where(eq(users.id, claims.sub));
  if (!user || user.deactivatedAt) throw new FerryError('auth.invalid_token', 'this account is deactivated');
  if (user.sessionVersion !== claims.sv)
    throw new FerryError(
      'auth.invalid_token',
      'this session has ended (signed out, or the password was changed or reset); sign in again',
    );
  return {
    id: user.id,
    email: user.email,
    groupId: user.groupId,
    role: user.role,
    isOperator: user.isOperator,
    passwordMustChange: user.passwordMustChange,
  };
}
