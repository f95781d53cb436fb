import { asc } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { groups } from '../db/schema/index.js';
import { requireOperator } from './permissions.js';

/** Every group on the platform. Platform operators only. */
export async function listGroups({
  ctx,
}: {
  ctx: Ctx;
  input?: undefined;
}): Promise<(typeof groups.$inferSelect)[]> {
  requireOperator(ctx.actor);
  return ctx.db.select().from(groups).orderBy(asc(groups.createdAt), asc(groups.id));
}
