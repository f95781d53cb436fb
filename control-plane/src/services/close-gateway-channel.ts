import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { rowsOf } from '../db/queries/gateway-channel.js';
import { gatewayEvents } from '../db/schema/index.js';
import { requireAgent } from './permissions.js';

/**
 * Records that channel `channelId` of the calling gateway closed. When it was still the gateway's
 * current channel, the channel is forgotten and, if `markOffline`, the gateway turns offline (with a
 * status event). A replica that is stopping passes markOffline false: its gateways reconnect to
 * another replica, and the liveness job catches those that do not.
 */
export async function closeGatewayChannel({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { channelId: string; code: number; replicaId: string; markOffline: boolean };
}): Promise<{ wentOffline: boolean }> {
  const actor = requireAgent(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    // One conditional UPDATE: only the replica whose channel is still current changes anything, and
    // the row lock makes a concurrent heartbeat or liveness run see the result.
    const result = await tx.execute(sql`
      with cur as (
        select gateway_id, status from gateway_status
        where gateway_id = ${actor.gatewayId} and channel_id = ${input.channelId}
        for update
      )
      update gateway_status s set
        channel_id = null,
        status = case when ${input.markOffline} then 'offline' else s.status end,
        status_since = case when ${input.markOffline} and s.status <> 'offline' then now() else s.status_since end
      from cur where s.gateway_id = cur.gateway_id
      returning cur.status as "from"`);
    const [row] = rowsOf<{ from: string }>(result);
    const wentOffline = input.markOffline && row !== undefined && row.from !== 'offline';
    const base = { groupId: actor.groupId, gatewayId: actor.gatewayId };
    await tx
      .insert(gatewayEvents)
      .values([
        { ...base, type: 'channel.closed', details: { replicaId: input.replicaId, code: input.code } },
        ...(wentOffline
          ? [{ ...base, type: 'status', details: { from: row.from, to: 'offline', conditions: [] } }]
          : []),
      ]);
    return { wentOffline };
  });
}
