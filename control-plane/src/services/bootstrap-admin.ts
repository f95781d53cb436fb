import { sql } from 'drizzle-orm';
import { generatePassword, hashPassword } from '../auth/password.js';
import type { Ctx } from '../context.js';
import { groups, users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';

/**
 * On first start with no users, creates a group and its first admin (also a platform operator).
 * Returns the password only when it was generated here, so the caller can print it once.
 */
export async function bootstrapAdmin({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { email: string; password?: string; groupName: string };
}): Promise<{ created: false } | { created: true; email: string; generatedPassword?: string }> {
  const password = input.password ?? generatePassword();
  const passwordHash = await hashPassword(password);
  return ctx.db.transaction(async (tx) => {
    // One replica wins the first start; the others see the admin it made.
    await tx.execute(sql`select pg_advisory_xact_lock(4242001)`);
    const [existing] = await tx.select({ id: users.id }).from(users).limit(1);
    if (existing) return { created: false } as const;
    const [group] = await tx.insert(groups).values({ name: input.groupName }).returning();
    const [user] = await tx
      .insert(users)
      .values({
        groupId: group!.id,
        email: input.email,
        passwordHash,
        role: 'admin',
        isOperator: true,
        // A generated password went to the console output: it is temporary. FERRY_ADMIN_PASSWORD is the operator's own choice.
        passwordMustChange: input.password === undefined,
      })
      .returning();
    await writeAudit(tx, ctx, {
      action: 'user.bootstrap_admin',
      groupId: group!.id,
      targetType: 'user',
      targetId: user!.id,
    });
    return {
      created: true,
      email: input.email,
      ...(input.password ? {} : { generatedPassword: password }),
    } as const;
  });
}
