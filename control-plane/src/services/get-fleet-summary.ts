import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { gatewayStatus, gateways } from '../db/schema/index.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';
import { requireUser } from './permissions.js';

export interface FleetSummary {
  /** Non-revoked gateways by status; one that never connected counts as offline. */
  gateways: { online: number; degraded: number; offline: number; total: number };
  /** Sums over the latest health of the non-revoked gateways that have reported one. */
  studiesWaiting: number;
  objectsWaiting: number;
  bytesWaiting: number;
  /** When the oldest undelivered object across the group was received, and on which gateway. */
  oldestUnsentAt: Date | null;
  oldestUnsentGatewayId: string | null;
  /** Open alerts (conditions, gateway.offline included) by severity, as the Alerts page lists them. */
  openAlerts: { errors: number; warnings: number };
}

/**
 * The group's fleet at a glance. Two aggregate statements whatever the fleet size; the health
 * reports stay in the database.
 */
export async function getFleetSummary({ ctx }: { ctx: Ctx; input?: undefined }): Promise<FleetSummary> {
  const actor = requireUser(ctx.actor);
  const scope = and(eq(gateways.groupId, actor.groupId), isNull(gateways.revokedAt));
  const status = sql`coalesce(${gatewayStatus.status}, 'offline')`;
  const spool = sql`(${gatewayStatus.health} -> 'spool')`;
  const oldest = sql`(${spool} ->> 'oldestUnsentAt')::timestamptz`;
  const [counts] = await ctx.db
    .select({
      online: sql<string>`count(*) filter (where ${status} = 'online')`,
      degraded: sql<string>`count(*) filter (where ${status} = 'degraded')`,
      offline: sql<string>`count(*) filter (where ${status} = 'offline')`,
      total: sql<string>`count(*)`,
      studies: sql<string | null>`sum((${spool} ->> 'pendingStudies')::bigint)`,
      objects: sql<string | null>`sum((${spool} ->> 'pendingCount')::bigint)`,
      bytes: sql<string | null>`sum((${spool} ->> 'pendingBytes')::double precision)`,
    })
    .from(gateways)
    .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
    .where(scope);
  const [first] = await ctx.db
    .select({ gatewayId: gateways.id, at: sql<string | Date>`${oldest}` })
    .from(gateways)
    .innerJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
    .where(and(scope, sql`${oldest} is not null`))
    .orderBy(oldest, gateways.id)
    .limit(1);
  const [open] = rowsOf<{ errors: string | number; warnings: string | number }>(
    await ctx.db.execute(sql`
      select count(*) filter (where severity = 'error') as errors,
        count(*) filter (where severity = 'warning') as warnings
      from alerts where group_id = ${actor.groupId} and closed_at is null and cleared_at is null`),
  );
  const num = (v: string | number | null | undefined) => (v === null || v === undefined ? 0 : Number(v));
  return {
    gateways: {
      online: num(counts?.online),
      degraded: num(counts?.degraded),
      offline: num(counts?.offline),
      total: num(counts?.total),
    },
    studiesWaiting: num(counts?.studies),
    objectsWaiting: num(counts?.objects),
    bytesWaiting: num(counts?.bytes),
    oldestUnsentAt: first ? new Date(first.at) : null,
    oldestUnsentGatewayId: first?.gatewayId ?? null,
    openAlerts: { errors: num(open?.errors), warnings: num(open?.warnings) },
  };
}
