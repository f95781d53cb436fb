import { and, eq, ne } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type ConfigVersionRow, latestConfigVersions } from '../db/queries/gateway-channel.js';
import { gatewayEvents, gatewayStatus, gateways } from '../db/schema/index.js';
import { deriveGatewayStatus } from './derive-gateway-status.js';
import { requireAgent } from './permissions.js';

/**
 * Records that the calling gateway opened channel `channelId` on this replica: the channel becomes the
 * gateway's current one (a close of an older channel no longer marks it offline), an offline gateway
 * comes back, and `channel.connected` is logged. Returns the gateway's latest desired config.
 */
export async function openGatewayChannel({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { channelId: string; replicaId: string; heartbeatSeconds: number; agentVersion: string };
}): Promise<{ latest: ConfigVersionRow | undefined }> {
  const actor = requireAgent(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const now = new Date();
    const [prev] = await tx
      .select({ status: gatewayStatus.status, health: gatewayStatus.health })
      .from(gatewayStatus)
      .where(eq(gatewayStatus.gatewayId, actor.gatewayId))
      .for('update');
    const connected = {
      channelId: input.channelId,
      connectedAt: now,
      replicaId: input.replicaId,
      heartbeatSeconds: input.heartbeatSeconds,
    };
    // An offline (or never connected) gateway comes back with the status its latest heartbeat
    // implies, so a reconnect of a degraded gateway does not read as a recovery; otherwise the status
    // stands until the next heartbeat.
    const from = prev?.status ?? 'offline';
    const conditions = prev?.health?.conditions ?? [];
    const to = from === 'offline' ? deriveGatewayStatus(conditions) : from;
    if (prev) {
      await tx
        .update(gatewayStatus)
        .set({ ...connected, ...(to !== from ? { status: to, statusSince: now } : {}) })
        .where(eq(gatewayStatus.gatewayId, actor.gatewayId));
    } else {
      await tx
        .insert(gatewayStatus)
        .values({ gatewayId: actor.gatewayId, status: to, statusSince: now, ...connected });
    }
    // The version it says hello with is the one it runs: after an upgrade (or a rollback) the fleet
    // shows it, not the one it enrolled with.
    await tx
      .update(gateways)
      .set({ version: input.agentVersion })
      .where(and(eq(gateways.id, actor.gatewayId), ne(gateways.version, input.agentVersion)));
    const base = { groupId: actor.groupId, gatewayId: actor.gatewayId, at: now };
    await tx.insert(gatewayEvents).values([
      {
        ...base,
        type: 'channel.connected',
        details: { replicaId: input.replicaId, agentVersion: input.agentVersion },
      },
      ...(to !== from ? [{ ...base, type: 'status', details: { from, to, conditions } }] : []),
    ]);
    const latest = await latestConfigVersions(tx, [actor.gatewayId]);
    return { latest: latest.get(actor.gatewayId) };
  });
}
