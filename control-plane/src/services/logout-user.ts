import { eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireUser } from './permissions.js';

/**
 * Signs the caller out everywhere: bumping the session version ends this session and every other
 * session and API token of the user, on every replica, at once.
 */
export async function logoutUser({ ctx }: { ctx: Ctx }): Promise<void> {
  const actor = requireUser(ctx.actor);
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(users)
      .set({ sessionVersion: sql`${users.sessionVersion} + 1` })
      .where(eq(users.id, actor.userId));
    await writeAudit(tx, ctx, { action: 'auth.logout', targetType: 'user', targetId: actor.userId });
  });
}
