import { eq } from 'drizzle-orm';
import { hashPassword } from '../auth/password.js';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import { groups, users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { checkEmail, checkName, checkPassword, emailTaken } from './input-rules.js';
import { requireOperator } from './permissions.js';

export interface CreateGroupResult {
  group: typeof groups.$inferSelect;
  admin: { id: string; email: string; role: 'admin' };
}

/** Creates a group and its first admin, whose password is temporary (changed at the first sign-in). Platform operators only. */
export async function createGroup({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { name: string; admin: { email: string; password: string } };
}): Promise<CreateGroupResult> {
  requireOperator(ctx.actor);
  const name = checkName(input.name);
  const email = checkEmail(input.admin.email, 'admin.email');
  const passwordHash = await hashPassword(checkPassword(input.admin.password, 'admin.password'));
  try {
    return await ctx.db.transaction(async (tx) => {
      const [taken] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
      if (taken) throw emailTaken(email);
      const [group] = await tx.insert(groups).values({ name }).returning();
      const [admin] = await tx
        .insert(users)
        .values({ groupId: group!.id, email, passwordHash, role: 'admin', passwordMustChange: true })
        .returning({ id: users.id });
      await writeAudit(tx, ctx, {
        action: 'group.create',
        groupId: group!.id,
        targetType: 'group',
        targetId: group!.id,
        details: { name },
      });
      await writeAudit(tx, ctx, {
        action: 'user.create',
        groupId: group!.id,
        targetType: 'user',
        targetId: admin!.id,
        details: { email, role: 'admin' },
      });
      return { group: group!, admin: { id: admin!.id, email, role: 'admin' } };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(email);
    throw err;
  }
}
