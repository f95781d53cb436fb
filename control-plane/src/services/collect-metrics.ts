import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from '../db/queries/gateway-channel.js';
import type { GatewayStatus } from '../db/schema/index.js';

/** One gateway's figures for /metrics: ids and names only, never patient data. */
export interface GatewayMetrics {
  gatewayId: string;
  name: string;
  facility: string;
  status: GatewayStatus;
  revoked: boolean;
  backlogCount: number | null;
  backlogBytes: number | null;
  oldestUnsentSeconds: number | null;
  lastHeartbeatAgeSeconds: number | null;
  /** Means over the last 5 minutes of the gateway's series. */
  receivedPerMinute: number;
  deliveredPerMinute: number;
  /** Mean over the last 5 minutes; null when nothing was delivered. */
  deliveryLatencySeconds: number | null;
}

export interface ControlPlaneFigures {
  gateways: GatewayMetrics[];
  /** Studies still receiving (not complete yet). */
  studiesReceiving: number;
  /** Studies completed in the last hour: their count and the mean and worst lag from last instance to complete. */
  studiesCompleted1h: number;
  completionLagMeanSeconds: number | null;
  completionLagMaxSeconds: number | null;
  /** Sealed bytes of uploads completed in the last hour. */
  uploadedBytes1h: number;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Every group's gateways and the control plane's own study and upload figures, for the operator's
 * /metrics scrape: the system actor only (the route authenticates the scrape token), since a
 * Prometheus server is the operator's, not a group's.
 */
export async function collectMetrics({ ctx }: { ctx: Ctx }): Promise<ControlPlaneFigures> {
  if (ctx.actor.kind !== 'system')
    throw new FerryError('auth.forbidden', 'metrics are read by the scrape token only');
  const [gws, studies, uploads] = await Promise.all([
    ctx.db.execute(sql`
      select g.id, g.name, f.name as facility, coalesce(s.status, 'offline') as status, g.revoked_at is not null as revoked,
        (s.health->'spool'->>'pendingCount')::float8 as backlog_count,
        (s.health->'spool'->>'pendingBytes')::float8 as backlog_bytes,
        extract(epoch from now() - (s.health->'spool'->>'oldestUnsentAt')::timestamptz) as oldest_unsent,
        extract(epoch from now() - s.last_heartbeat_at) as heartbeat_age,
        coalesce(r.received, 0) / 5.0 as received, coalesce(r.delivered, 0) / 5.0 as delivered,
        case when r.latency_count > 0 then r.latency_ms_sum / r.latency_count / 1000 end as latency
      from gateways g
      join facilities f on f.id = g.facility_id
      left join gateway_status s on s.gateway_id = g.id
      left join lateral (
        select sum(received) as received, sum(delivered) as delivered, sum(latency_ms_sum) as latency_ms_sum,
          sum(latency_count) as latency_count
        from gateway_series x
        where x.gateway_id = g.id and x.resolution = 'minute' and x.bucket >= now() - interval '5 minutes'
      ) r on true
      order by g.id`),
    ctx.db.execute(sql`
      select count(*) filter (where completed_at is null) as receiving,
        count(*) filter (where completed_at >= now() - interval '1 hour') as completed,
        avg(extract(epoch from completed_at - last_received_at)) filter (where completed_at >= now() - interval '1 hour') as lag_mean,
        max(extract(epoch from completed_at - last_received_at)) filter (where completed_at >= now() - interval '1 hour') as lag_max
      from studies`),
    ctx.db.execute(sql`
      select coalesce(sum(object_bytes), 0) as bytes from uploads where completed_at >= now() - interval '1 hour'`),
  ]);
  const st = rowsOf<Record<string, unknown>>(studies)[0] ?? {};
  const up = rowsOf<Record<string, unknown>>(uploads)[0] ?? {};
  return {
    gateways: rowsOf<Record<string, unknown>>(gws).map((r) => ({
      gatewayId: String(r.id),
      name: String(r.name),
      facility: String(r.facility),
      status: r.status as GatewayStatus,
      revoked: r.revoked === true,
      backlogCount: num(r.backlog_count),
      backlogBytes: num(r.backlog_bytes),
      oldestUnsentSeconds: num(r.oldest_unsent),
      lastHeartbeatAgeSeconds: num(r.heartbeat_age),
      receivedPerMinute: Number(r.received),
      deliveredPerMinute: Number(r.delivered),
      deliveryLatencySeconds: num(r.latency),
    })),
    studiesReceiving: Number(st.receiving ?? 0),
    studiesCompleted1h: Number(st.completed ?? 0),
    completionLagMeanSeconds: num(st.lag_mean),
    completionLagMaxSeconds: num(st.lag_max),
    uploadedBytes1h: Number(up.bytes ?? 0),
  };
}
