import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';

/** Status events older than this are not looked at again (the outbox is caught up within a second). */
export const WEBHOOK_LOOKBACK_HOURS = 24;

export type WebhookEventType = 'gateway.offline' | 'gateway.recovered' | 'gateway.degraded';

const iso = (ts: ReturnType<typeof sql>) =>
  sql`to_char((${ts}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The payload every delivery carries, built in SQL from the gateway (g), facility (f) and webhook (w). */
function payload(
  key: ReturnType<typeof sql>,
  type: ReturnType<typeof sql>,
  occurredAt: ReturnType<typeof sql>,
  rest: ReturnType<typeof sql>,
) {
  return sql`jsonb_build_object(
    'id', ${key},
    'type', ${type},
    'occurredAt', ${iso(occurredAt)},
    'group', jsonb_build_object('id', w.group_id),
    'gateway', jsonb_build_object(
      'id', g.id, 'hostname', g.hostname,
      'facility', jsonb_build_object('id', f.id, 'name', f.name, 'aeTitle', f.ae_title)
    )
  ) || ${rest}`;
}

/**
 * The webhook outbox, filled from what H1's channel records: for every webhook of a group, one
 * delivery per
 * - `gateway.offline`: a `status` event to offline;
 * - `gateway.recovered`: a `status` event to online from offline, or from degraded when the degraded
 *   stretch lasted at least the webhook's degradedAfterSeconds (shorter blips never alerted, so their
 *   end is not news);
 * - `gateway.degraded`: a gateway degraded for longer than degradedAfterSeconds, once per episode (the
 *   episode is named by its status_since).
 * Only events after the webhook was created count, and none of a revoked gateway from its revocation
 * on (its channel closing then is expected, not news). The unique (webhook_id, event_key) with ON
 * CONFLICT DO NOTHING is the duplicate suppression: every replica may run this at any time and each
 * event is still enqueued once. Returns how many deliveries were added.
 */
export async function enqueueWebhookDeliveries({
  ctx,
}: {
  ctx: Ctx;
  input?: undefined;
}): Promise<{ enqueued: number }> {
  if (ctx.actor.kind !== 'system')
    throw new FerryError('auth.forbidden', 'only the system enqueues webhook deliveries');

  const statusType = sql`case when e.details->>'to' = 'offline' then 'gateway.offline' else 'gateway.recovered' end`;
  const statusKey = sql`(${statusType}) || ':' || e.id::text`;
  const fromStatus = await ctx.db.execute(sql`
    insert into webhook_deliveries (webhook_id, group_id, event_key, event_type, payload)
    select w.id, w.group_id, ${statusKey}, ${statusType},
      ${payload(
        statusKey,
        statusType,
        sql`e.at`,
        sql`jsonb_build_object(
          'status', jsonb_build_object('from', e.details->>'from', 'to', e.details->>'to'),
          'conditions', coalesce(e.details->'conditions', '[]'::jsonb)
        )`,
      )}
    from gateway_events e
    join webhooks w on w.group_id = e.group_id and e.at >= w.created_at
    join gateways g on g.id = e.gateway_id
    join facilities f on f.id = g.facility_id
    left join lateral (
      select p.at from gateway_events p
      where p.gateway_id = e.gateway_id and p.type = 'status' and p.at < e.at
      order by p.at desc limit 1
    ) prev on true
    where e.type = 'status'
      and (g.revoked_at is null or e.at < g.revoked_at)
      and e.at > now() - make_interval(hours => ${WEBHOOK_LOOKBACK_HOURS})
      and (
        e.details->>'to' = 'offline'
        or (
          e.details->>'to' = 'online' and prev.at is not null and (
            e.details->>'from' = 'offline'
            or (e.details->>'from' = 'degraded'
                and e.at - prev.at >= make_interval(secs => w.degraded_after_seconds))
          )
        )
      )
    on conflict (webhook_id, event_key) do nothing
    returning id
  `);

  const episodeKey = sql`'gateway.degraded:' || s.gateway_id::text || ':' || (extract(epoch from s.status_since) * 1000)::bigint::text`;
  const fromDegraded = await ctx.db.execute(sql`
    insert into webhook_deliveries (webhook_id, group_id, event_key, event_type, payload)
    select w.id, w.group_id, ${episodeKey}, 'gateway.degraded',
      ${payload(
        episodeKey,
        sql`'gateway.degraded'`,
        sql`s.status_since + make_interval(secs => w.degraded_after_seconds)`,
        sql`jsonb_build_object(
          'status', jsonb_build_object('from', coalesce(began.from_status, 'online'), 'to', 'degraded'),
          'degradedSince', ${iso(sql`s.status_since`)},
          'conditions', coalesce(s.health->'conditions', '[]'::jsonb)
        )`,
      )}
    from gateway_status s
    join gateways g on g.id = s.gateway_id and g.revoked_at is null
    join facilities f on f.id = g.facility_id
    join webhooks w on w.group_id = g.group_id
    left join lateral (
      select p.details->>'from' as from_status from gateway_events p
      where p.gateway_id = s.gateway_id and p.type = 'status' and p.details->>'to' = 'degraded'
      order by p.at desc limit 1
    ) began on true
    where s.status = 'degraded'
      and s.status_since <= now() - make_interval(secs => w.degraded_after_seconds)
    on conflict (webhook_id, event_key) do nothing
    returning id
  `);
  return { enqueued: rowsOf(fromStatus).length + rowsOf(fromDegraded).length };
}

/** Both drivers answer execute() with `{ rows }`. */
export function rowsOf<T = Record<string, unknown>>(result: unknown): T[] {
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
