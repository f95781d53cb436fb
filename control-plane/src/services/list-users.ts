import { asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type UserView, userColumns } from '../db/queries/users.js';
import { users } from '../db/schema/index.js';
import { requireAdmin } from './permissions.js';

export { type UserRole, userRoles } from '../db/schema/index.js';
export type { UserView };

/** The users of the caller's group, deactivated ones included. Admins only. */
export async function listUsers({ ctx }: { ctx: Ctx; input?: undefined }): Promise<UserView[]> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db
    .select(userColumns)
    .from(users)
    .where(eq(users.groupId, actor.groupId))
    .orderBy(asc(users.createdAt), asc(users.id));
}
