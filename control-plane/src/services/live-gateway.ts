import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { gatewayStatus, gateways } from '../db/schema/index.js';

/**
 * A gateway of `groupId` that has a live control channel, to be sent something over it: 404 when the
 * group has no such gateway, 409 gateway.offline (ending with `retry`) when it is revoked or offline.
 */
export async function requireLiveGateway(tx: DbOrTx, groupId: string, gatewayId: string, retry: string) {
  const [gw] = await tx
    .select({
      id: gateways.id,
      version: gateways.version,
      revokedAt: gateways.revokedAt,
      channelId: gatewayStatus.channelId,
      health: gatewayStatus.health,
    })
    .from(gateways)
    .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
    .where(and(eq(gateways.groupId, groupId), eq(gateways.id, gatewayId)));
  if (!gw) throw new FerryError('resource.not_found', `no gateway ${gatewayId} in your group`);
  if (gw.revokedAt || !gw.channelId)
    throw new FerryError('gateway.offline', `gateway ${gatewayId} has no live control channel; ${retry}`);
  return gw;
}
