import { FerryError } from '@ferry/shared';
import { eq, sql } from 'drizzle-orm';
import { hashPassword, verifyPassword } from '../auth/password.js';
import { issueSessionToken } from '../auth/session.js';
import type { Ctx } from '../context.js';
import { users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { checkPassword } from './input-rules.js';
import { countPasswordAttempt, forgetPasswordAttempts, recordPasswordFailure } from './login-throttle.js';
import { requireUser } from './permissions.js';

/**
 * Changes the caller's own password, confirmed with the current one (throttled like a sign-in, so a
 * stolen session cannot guess it). Ends every other session and API token of the user and clears a
 * temporary password; returns a fresh session token for the caller.
 */
export async function changePassword({
  ctx,
  input,
  sessionSecret,
}: {
  ctx: Ctx;
  input: { currentPassword: string; newPassword: string };
  sessionSecret: Uint8Array;
}): Promise<{ token: string }> {
  const actor = requireUser(ctx.actor);
  const newPassword = checkPassword(input.newPassword, 'newPassword');
  if (newPassword === input.currentPassword)
    throw new FerryError('request.invalid', 'newPassword: must differ from the current password');
  const [user] = await ctx.db.select().from(users).where(eq(users.id, actor.userId));
  if (!user) throw new FerryError('auth.invalid_token', 'this account no longer exists');
  await countPasswordAttempt(ctx, user.email);
  if (!(await verifyPassword(input.currentPassword, user.passwordHash))) {
    await recordPasswordFailure(ctx, user.email);
    await writeAudit(ctx.db, ctx, {
      action: 'user.password_change_failed',
      targetType: 'user',
      targetId: user.id,
    });
    throw new FerryError('auth.wrong_password', 'the current password is wrong');
  }
  await forgetPasswordAttempts(ctx, user.email);
  const passwordHash = await hashPassword(newPassword);
  const sessionVersion = await ctx.db.transaction(async (tx) => {
    const [changed] = await tx
      .update(users)
      .set({ passwordHash, passwordMustChange: false, sessionVersion: sql`${users.sessionVersion} + 1` })
      .where(eq(users.id, user.id))
      .returning({ sessionVersion: users.sessionVersion });
    await writeAudit(tx, ctx, {
      action: 'user.password_change',
      targetType: 'user',
      targetId: user.id,
      ...(user.passwordMustChange ? { details: { replacedTemporary: true } } : {}),
    });
    return changed!.sessionVersion;
  });
  const token = await issueSessionToken(sessionSecret, {
    sub: user.id,
    grp: user.groupId,
    role: user.role,
    op: user.isOperator,
    sv: sessionVersion,
  });
  return { token };
}
