import { and, eq, isNull, type SQL, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type GatewayView, selectGatewayViews } from '../db/queries/gateways.js';
import { type GatewayStatus, gatewayStatus, gateways } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

export type { GatewayStatus };

export interface FleetFilters {
  status?: GatewayStatus | undefined;
  facilityId?: string | undefined;
  /** Revoked gateways are left out unless asked for. */
  includeRevoked?: boolean | undefined;
}

/** A gateway as a fleet row shows it: the view plus the backlog and throughput of its latest health. */
export interface FleetGatewayView extends GatewayView {
  /** What waits in its spool, from the latest heartbeat; null before the first. */
  backlog: { objects: number; bytes: number; oldestUnsentAt: Date | null } | null;
  /** Upload throughput of the latest heartbeat; null before the first. */
  uploadBytesPerSecond: number | null;
}

/**
 * The group's gateways for the fleet view, filtered by status and facility, newest enrolment first.
 * Two indexed statements whatever the filters: the views, and the few health numbers a row shows
 * (the health reports themselves stay in the database).
 */
export async function listFleetGateways({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: FleetFilters;
}): Promise<FleetGatewayView[]> {
  const actor = requireUser(ctx.actor);
  const where: SQL[] = [];
  if (!input.includeRevoked) where.push(isNull(gateways.revokedAt));
  if (input.status) where.push(sql`coalesce(${gatewayStatus.status}, 'offline') = ${input.status}`);
  if (input.facilityId) where.push(eq(gateways.facilityId, input.facilityId));
  const views = await selectGatewayViews(ctx.db, actor.groupId, and(...where));
  if (views.length === 0) return [];
  const spool = sql`(${gatewayStatus.health} -> 'spool')`;
  const numbers = await ctx.db
    .select({
      gatewayId: gatewayStatus.gatewayId,
      objects: sql<string | number | null>`(${spool} ->> 'pendingCount')::bigint`,
      bytes: sql<string | number | null>`(${spool} ->> 'pendingBytes')::double precision`,
      oldest: sql<string | null>`${spool} ->> 'oldestUnsentAt'`,
      rate: sql<
        string | number | null
      >`(${gatewayStatus.health} -> 'upload' ->> 'bytesPerSecond')::double precision`,
    })
    .from(gatewayStatus)
    .innerJoin(gateways, eq(gateways.id, gatewayStatus.gatewayId))
    .where(and(eq(gateways.groupId, actor.groupId), sql`${gatewayStatus.health} is not null`));
  const byId = new Map(numbers.map((n) => [n.gatewayId, n]));
  return views.map((v) => {
    const n = byId.get(v.id);
    return {
      ...v,
      backlog: n
        ? {
            objects: Number(n.objects ?? 0),
            bytes: Number(n.bytes ?? 0),
            oldestUnsentAt: n.oldest ? new Date(n.oldest) : null,
          }
        : null,
      uploadBytesPerSecond: n && n.rate !== null ? Number(n.rate) : null,
    };
  });
}
