import { FerryError } from '@ferry/shared';
import { and, eq, sql } from 'drizzle-orm';
import { generatePassword, hashPassword } from '../auth/password.js';
import type { Ctx } from '../context.js';
import { type UserView, userColumns } from '../db/queries/users.js';
import { users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/**
 * Gives a user of the caller's group a new temporary password (returned once, never stored in clear),
 * which they must change at their next sign-in, and ends all of their sessions and API tokens.
 */
export async function resetUserPassword({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<{ user: UserView; temporaryPassword: string }> {
  const actor = requireAdmin(ctx.actor);
  if (input.id === actor.userId)
    throw new FerryError('auth.forbidden', 'change your own password on your account page, not by a reset');
  const temporaryPassword = generatePassword();
  const passwordHash = await hashPassword(temporaryPassword);
  return ctx.db.transaction(async (tx) => {
    const [user] = await tx
      .update(users)
      .set({ passwordHash, passwordMustChange: true, sessionVersion: sql`${users.sessionVersion} + 1` })
      .where(and(eq(users.groupId, actor.groupId), eq(users.id, input.id)))
      .returning(userColumns);
    if (!user) throw new FerryError('resource.not_found', `no user ${input.id} in your group`);
    await writeAudit(tx, ctx, {
      action: 'user.password_reset',
      targetType: 'user',
      targetId: user.id,
      details: { email: user.email },
    });
    return { user, temporaryPassword };
  });
}
