import type { HealthReport } from '@ferry/shared';
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { gateways, type SeriesResolution } from '../schema/index.js';
import { rowsOf } from './gateway-channel.js';

/** How long each resolution is kept: the charts' longest range at that resolution. */
export const SERIES_RETENTION_MS: Record<SeriesResolution, number> = {
  minute: 24 * 3600_000,
  hour: 7 * 24 * 3600_000,
};

/** A longer gap than this between heartbeats is not counted as upload time (a gateway that was away). */
const MAX_INTERVAL_SECONDS = 3600;

/**
 * The heartbeat's fold into its gateway's minute bucket, as a CTE body for the heartbeat's own
 * statement: selected from `cur` (the row-locked status row of the current channel), so a stale
 * channel writes nothing and the heartbeat stays one statement. `gateway_status` is read as it was
 * before the statement's update, so `now() - last_heartbeat_at` is this report's interval.
 */
export function minuteSampleCte(health: HealthReport): SQL {
  const latency = health.upload.deliveryLatencyMs;
  const latencyCount = latency == null ? 0 : health.upload.objectsDelivered;
  const latencySum = latency == null ? 0 : latency * health.upload.objectsDelivered;
  return sql`insert into gateway_series as g (gateway_id, resolution, bucket, samples, received, delivered,
      uploaded_bytes, backlog_count, backlog_count_max, backlog_bytes, oldest_unsent_seconds, latency_ms_sum, latency_count)
    select cur.gateway_id, 'minute', date_trunc('minute', now()), 1, ${health.dicom.instancesReceived ?? 0},
      ${health.upload.objectsDelivered},
      round(${health.upload.bytesPerSecond}::float8 * least(${MAX_INTERVAL_SECONDS},
        coalesce(extract(epoch from now() - s.last_heartbeat_at), 0)))::bigint,
      ${health.spool.pendingCount}, ${health.spool.pendingCount}, ${Math.round(health.spool.pendingBytes)},
      greatest(0, coalesce(extract(epoch from now() - ${health.spool.oldestUnsentAt}::timestamptz), 0)),
      ${latencySum}, ${latencyCount}
    from cur join gateway_status s on s.gateway_id = cur.gateway_id
    on conflict (gateway_id, resolution, bucket) do update set
      samples = g.samples + 1,
      received = g.received + excluded.received,
      delivered = g.delivered + excluded.delivered,
      uploaded_bytes = g.uploaded_bytes + excluded.uploaded_bytes,
      backlog_count = excluded.backlog_count,
      backlog_count_max = greatest(g.backlog_count_max, excluded.backlog_count_max),
      backlog_bytes = excluded.backlog_bytes,
      oldest_unsent_seconds = greatest(g.oldest_unsent_seconds, excluded.oldest_unsent_seconds),
      latency_ms_sum = g.latency_ms_sum + excluded.latency_ms_sum,
      latency_count = g.latency_count + excluded.latency_count`;
}

/**
 * Recomputes the hour buckets from the minute buckets of the hours touching [from, now]: idempotent
 * (a replica running it twice, or a later run over the same hour, writes the same rows), and the
 * current hour is refreshed each run so the 7-day chart reaches the present.
 */
export async function rollUpSeriesHours(db: DbOrTx, from: Date): Promise<number> {
  const result = await db.execute(sql`
    insert into gateway_series as g (gateway_id, resolution, bucket, samples, received, delivered, uploaded_bytes,
      backlog_count, backlog_count_max, backlog_bytes, oldest_unsent_seconds, latency_ms_sum, latency_count)
    select gateway_id, 'hour', date_trunc('hour', bucket), sum(samples), sum(received), sum(delivered),
      sum(uploaded_bytes), (array_agg(backlog_count order by bucket desc))[1], max(backlog_count_max),
      (array_agg(backlog_bytes order by bucket desc))[1], max(oldest_unsent_seconds), sum(latency_ms_sum),
      sum(latency_count)
    from gateway_series
    where resolution = 'minute' and bucket >= date_trunc('hour', ${from.toISOString()}::timestamptz)
    group by gateway_id, date_trunc('hour', bucket)
    on conflict (gateway_id, resolution, bucket) do update set
      samples = excluded.samples, received = excluded.received, delivered = excluded.delivered,
      uploaded_bytes = excluded.uploaded_bytes, backlog_count = excluded.backlog_count,
      backlog_count_max = excluded.backlog_count_max, backlog_bytes = excluded.backlog_bytes,
      oldest_unsent_seconds = excluded.oldest_unsent_seconds, latency_ms_sum = excluded.latency_ms_sum,
      latency_count = excluded.latency_count
    returning 1`);
  return rowsOf(result).length;
}

/** Deletes buckets older than their resolution keeps; returns how many went. */
export async function pruneSeries(db: DbOrTx, now: Date): Promise<number> {
  const minuteBefore = new Date(now.getTime() - SERIES_RETENTION_MS.minute).toISOString();
  const hourBefore = new Date(now.getTime() - SERIES_RETENTION_MS.hour).toISOString();
  const result = await db.execute(sql`
    delete from gateway_series
    where (resolution = 'minute' and bucket < ${minuteBefore}::timestamptz)
       or (resolution = 'hour' and bucket < ${hourBefore}::timestamptz)
    returning 1`);
  return rowsOf(result).length;
}

/** One point of a chart: per-minute rates over the point's span, levels at its end (or worst in it). */
export interface SeriesPoint {
  at: Date;
  receivedPerMinute: number;
  deliveredPerMinute: number;
  backlogCount: number;
  backlogBytes: number;
  oldestUnsentSeconds: number;
  /** Mean delivery latency in the span; null when nothing was delivered. */
  latencyMs: number | null;
}

interface PointRow {
  at: string | Date;
  received: number | string;
  delivered: number | string;
  backlog_count: number | string;
  backlog_bytes: number | string;
  oldest_unsent_seconds: number | string;
  latency_ms_sum: number | string;
  latency_count: number | string;
}

/**
 * The buckets of `resolution` since `from` for each of `gatewayIds`, grouped into points `stepSeconds`
 * wide (a multiple of the bucket): one query, ordered by gateway and time.
 */
export async function seriesPoints(
  db: DbOrTx,
  opts: { gatewayIds: string[]; resolution: SeriesResolution; from: Date; stepSeconds: number },
): Promise<Map<string, SeriesPoint[]>> {
  const out = new Map<string, SeriesPoint[]>();
  if (opts.gatewayIds.length === 0) return out;
  const step = opts.stepSeconds;
  const minutes = step / 60;
  const result = await db.execute(sql`
    select gateway_id, to_timestamp(floor(extract(epoch from bucket) / ${step}) * ${step}) as at,
      sum(received) as received, sum(delivered) as delivered,
      (array_agg(backlog_count order by bucket desc))[1] as backlog_count,
      (array_agg(backlog_bytes order by bucket desc))[1] as backlog_bytes,
      max(oldest_unsent_seconds) as oldest_unsent_seconds,
      sum(latency_ms_sum) as latency_ms_sum, sum(latency_count) as latency_count
    from gateway_series
    where resolution = ${opts.resolution} and bucket >= ${opts.from.toISOString()}::timestamptz
      and gateway_id in (${sql.join(
        opts.gatewayIds.map((id) => sql`${id}::uuid`),
        sql`, `,
      )})
    group by gateway_id, 2
    order by gateway_id, 2`);
  for (const r of rowsOf<PointRow & { gateway_id: string }>(result)) {
    const count = Number(r.latency_count);
    const point: SeriesPoint = {
      at: new Date(r.at),
      receivedPerMinute: Number(r.received) / minutes,
      deliveredPerMinute: Number(r.delivered) / minutes,
      backlogCount: Number(r.backlog_count),
      backlogBytes: Number(r.backlog_bytes),
      oldestUnsentSeconds: Number(r.oldest_unsent_seconds),
      latencyMs: count > 0 ? Number(r.latency_ms_sum) / count : null,
    };
    const list = out.get(r.gateway_id);
    if (list) list.push(point);
    else out.set(r.gateway_id, [point]);
  }
  return out;
}

/** Those of `ids` that are gateways of `groupId`. */
export async function listGatewayIdsInGroup(db: DbOrTx, groupId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select({ id: gateways.id })
    .from(gateways)
    .where(and(eq(gateways.groupId, groupId), inArray(gateways.id, ids)));
  return rows.map((r) => r.id);
}
