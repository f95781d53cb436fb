import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';
import { requireUser } from './permissions.js';

/** The navigation's badge: open, unacknowledged errors of the caller's group. */
export async function countUnacknowledgedErrors({ ctx }: { ctx: Ctx; input?: undefined }): Promise<number> {
  const actor = requireUser(ctx.actor);
  const [row] = rowsOf<{ n: string | number }>(
    await ctx.db.execute(sql`
      select count(*) as n from alerts
      where group_id = ${actor.groupId} and closed_at is null and cleared_at is null
        and acknowledged_at is null and severity = 'error'`),
  );
  return Number(row?.n ?? 0);
}
