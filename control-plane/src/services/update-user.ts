import { FerryError } from '@ferry/shared';
import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type UserView, userColumns } from '../db/queries/users.js';
import { type UserRole, users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/**
 * Changes a user's role or (de)activates them, within the caller's group. An admin cannot
 * deactivate themselves or drop their own admin role: another admin has to.
 */
export async function updateUser({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string; role?: UserRole | undefined; deactivated?: boolean | undefined };
}): Promise<UserView> {
  const actor = requireAdmin(ctx.actor);
  if (input.id === actor.userId) {
    if (input.deactivated === true)
      throw new FerryError('auth.forbidden', 'you cannot deactivate your own account; ask another admin');
    if (input.role !== undefined && input.role !== 'admin')
      throw new FerryError('auth.forbidden', 'you cannot remove your own admin role; ask another admin');
  }
  return ctx.db.transaction(async (tx) => {
    const [before] = await tx
      .select(userColumns)
      .from(users)
      .where(and(eq(users.groupId, actor.groupId), eq(users.id, input.id)))
      .for('update');
    if (!before) throw new FerryError('resource.not_found', `no user ${input.id} in your group`);
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    const set: { role?: UserRole; deactivatedAt?: Date | null; sessionVersion?: SQL } = {};
    if (input.role !== undefined && input.role !== before.role) {
      changes.role = { from: before.role, to: input.role };
      set.role = input.role;
    }
    if (input.deactivated !== undefined && input.deactivated !== (before.deactivatedAt !== null)) {
      changes.deactivated = { from: !input.deactivated, to: input.deactivated };
      set.deactivatedAt = input.deactivated ? new Date() : null;
      // Deactivation ends every session and API token: reactivating later does not bring them back.
      if (input.deactivated) set.sessionVersion = sql`${users.sessionVersion} + 1`;
    }
    if (Object.keys(changes).length === 0) return before;
    const [after] = await tx.update(users).set(set).where(eq(users.id, before.id)).returning(userColumns);
    await writeAudit(tx, ctx, {
      action: input.deactivated === true && changes.deactivated ? 'user.deactivate' : 'user.update',
      targetType: 'user',
      targetId: before.id,
      details: { email: before.email, changes },
    });
    return after!;
  });
}
