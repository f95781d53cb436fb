import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';
import { requireUser } from './permissions.js';

/** An open condition of one of the group's gateways, as the Alerts page and API show it. */
export interface AlertView {
  id: string;
  gateway: { id: string; hostname: string; facilityName: string };
  code: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
  since: Date;
  acknowledged: { at: Date; by: string | null } | null;
}

interface Row {
  id: string;
  gateway_id: string;
  hostname: string;
  facility_name: string;
  code: string;
  severity: AlertView['severity'];
  message: string;
  since: Date | string;
  acknowledged_at: Date | string | null;
  acknowledged_by: string | null;
}

/** How many open alerts one page lists (a fleet in trouble shows its newest first). */
export const ALERTS_LIST_LIMIT = 500;

/**
 * The open conditions across the caller's group's fleet, newest first: episodes not cleared (one in
 * its quiet period after clearing is no longer listed).
 */
export async function listAlerts({ ctx }: { ctx: Ctx; input?: undefined }): Promise<AlertView[]> {
  const actor = requireUser(ctx.actor);
  const rows = rowsOf<Row>(
    await ctx.db.execute(sql`
      select a.id, a.gateway_id, g.hostname, f.name as facility_name, a.code, a.severity, a.message,
        a.since, a.acknowledged_at, u.email as acknowledged_by
      from alerts a
      join gateways g on g.id = a.gateway_id
      join facilities f on f.id = g.facility_id
      left join users u on u.id = a.acknowledged_by
      where a.group_id = ${actor.groupId} and a.closed_at is null and a.cleared_at is null
      order by a.since desc, a.id
      limit ${ALERTS_LIST_LIMIT}`),
  );
  return rows.map((r) => ({
    id: r.id,
    gateway: { id: r.gateway_id, hostname: r.hostname, facilityName: r.facility_name },
    code: r.code,
    severity: r.severity,
    message: r.message,
    since: new Date(r.since),
    acknowledged: r.acknowledged_at ? { at: new Date(r.acknowledged_at), by: r.acknowledged_by } : null,
  }));
}
