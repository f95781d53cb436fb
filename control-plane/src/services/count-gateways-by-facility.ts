import { and, count, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { gateways } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

/** How many non-revoked gateways each facility of the caller's group has: one grouped count. */
export async function countGatewaysByFacility({
  ctx,
}: {
  ctx: Ctx;
  input?: undefined;
}): Promise<Map<string, number>> {
  const actor = requireUser(ctx.actor);
  const rows = await ctx.db
    .select({ facilityId: gateways.facilityId, n: count() })
    .from(gateways)
    .where(and(eq(gateways.groupId, actor.groupId), isNull(gateways.revokedAt)))
    .groupBy(gateways.facilityId);
  return new Map(rows.map((r) => [r.facilityId, Number(r.n)]));
}
