import type { HealthReport } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from '../db/queries/gateway-channel.js';
import { minuteSampleCte } from '../db/queries/gateway-series.js';
import type { GatewayStatus } from '../db/schema/index.js';
import { deriveGatewayStatus } from './derive-gateway-status.js';
import { requireAgent } from './permissions.js';

export type HeartbeatOutcome =
  | { stale: false; from: GatewayStatus; to: GatewayStatus }
  /** The channel is no longer the gateway's current one (a newer channel replaced it). */
  | { stale: true };

/**
 * Stores one heartbeat of the calling gateway on channel `channelId`: its health, the time, the applied
 * config version and the derived status, plus a `status` event when the status changes, and folds it
 * into the gateway's minute series bucket (db/queries/gateway-series.ts). One statement:
 * thousands of gateways heartbeat, so this is the control plane's hottest write. The row lock taken
 * first makes the status change and its event happen once, whatever else (a close, the liveness job on
 * another replica) touches the row at the same time.
 */
export async function recordHeartbeat({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { channelId: string; health: HealthReport };
}): Promise<HeartbeatOutcome> {
  const actor = requireAgent(ctx.actor);
  const to = deriveGatewayStatus(input.health.conditions);
  const result = await ctx.db.execute(sql`
    with cur as (
      select gateway_id, status from gateway_status
      where gateway_id = ${actor.gatewayId} and channel_id = ${input.channelId}
      for update
    ), upd as (
      update gateway_status s set
        health = ${JSON.stringify(input.health)}::jsonb,
        last_heartbeat_at = now(),
        applied_config_version = ${input.health.configVersion},
        status = ${to},
        status_since = case when s.status = ${to} then s.status_since else now() end
      from cur where s.gateway_id = cur.gateway_id
      returning cur.status as "from"
    ), ev as (
      insert into gateway_events (group_id, gateway_id, type, details)
      select ${actor.groupId}, ${actor.gatewayId}, 'status',
        jsonb_build_object('from', upd."from", 'to', ${to}::text, 'conditions', ${JSON.stringify(input.health.conditions)}::jsonb)
      from upd where upd."from" <> ${to}
      returning id
    ), series as (${minuteSampleCte(input.health)})
    select "from" from upd`);
  const [row] = rowsOf<{ from: GatewayStatus }>(result);
  if (!row) return { stale: true };
  return { stale: false, from: row.from, to };
}
