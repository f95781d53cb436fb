import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from '../db/queries/gateway-channel.js';

/**
 * Turns offline every gateway not heard from for 1.5 of its heartbeat intervals, but never less than one
 * interval plus 0.5 s so that jitter (±10%) and a busy event loop at short test intervals do not flap
 * a live gateway (counted from
 * its last heartbeat, or from the connect when none came yet), with a `status` event each. Safe on
 * every replica at once: rows are claimed with SKIP LOCKED and the update is conditional, so each
 * change and its event happen once. The channel stays recorded: a late heartbeat on it brings the
 * gateway back.
 */
export async function markSilentGatewaysOffline({
  ctx,
  input,
}: {
  ctx: Ctx;
  /** The interval assumed for a row that has none recorded. */
  input: { defaultHeartbeatSeconds: number };
}): Promise<{ gatewayIds: string[] }> {
  if (ctx.actor.kind !== 'system') throw new FerryError('auth.forbidden', 'only the system does this');
  const result = await ctx.db.execute(sql`
    with silent as (
      select gateway_id, status from gateway_status
      where status <> 'offline'
        and greatest(last_heartbeat_at, connected_at)
          < now() - make_interval(secs => greatest(
              coalesce(heartbeat_seconds, ${input.defaultHeartbeatSeconds}) * 1.5,
              coalesce(heartbeat_seconds, ${input.defaultHeartbeatSeconds}) + 0.5))
      for update skip locked
    ), upd as (
      update gateway_status s set status = 'offline', status_since = now()
      from silent where s.gateway_id = silent.gateway_id and s.status <> 'offline'
      returning s.gateway_id, silent.status as "from"
    ), ev as (
      insert into gateway_events (group_id, gateway_id, type, details)
      select g.group_id, upd.gateway_id, 'status',
        jsonb_build_object('from', upd."from", 'to', 'offline', 'conditions', '[]'::jsonb)
      from upd join gateways g on g.id = upd.gateway_id
      returning gateway_id
    )
    select gateway_id as "gatewayId" from ev`);
  return { gatewayIds: rowsOf<{ gatewayId: string }>(result).map((r) => r.gatewayId) };
}
