import { eq } from 'drizzle-orm';
import { hashPassword } from '../auth/password.js';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import { type UserView, userColumns } from '../db/queries/users.js';
import { type UserRole, users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { checkEmail, checkPassword, emailTaken } from './input-rules.js';
import { requireAdmin } from './permissions.js';

/**
 * Adds a user to the caller's group. E-mail addresses are unique across the platform. The password is
 * the invitation, so it is temporary: the user must change it at the first sign-in.
 */
export async function createUser({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { email: string; password: string; role: UserRole };
}): Promise<UserView> {
  const actor = requireAdmin(ctx.actor);
  const email = checkEmail(input.email);
  const passwordHash = await hashPassword(checkPassword(input.password));
  try {
    return await ctx.db.transaction(async (tx) => {
      const [taken] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
      if (taken) throw emailTaken(email);
      const [user] = await tx
        .insert(users)
        .values({ groupId: actor.groupId, email, passwordHash, role: input.role, passwordMustChange: true })
        .returning(userColumns);
      await writeAudit(tx, ctx, {
        action: 'user.create',
        targetType: 'user',
        targetId: user!.id,
        details: { email, role: input.role },
      });
      return user!;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(email);
    throw err;
  }
}
