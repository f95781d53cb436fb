import type { Ctx } from '../context.js';
import { listGatewayIdsInGroup, type SeriesPoint, seriesPoints } from '../db/queries/gateway-series.js';

export type { SeriesPoint } from '../db/queries/gateway-series.js';

import { requireUser } from './permissions.js';

/** The fleet page's sparklines: 24 hourly points of each gateway, from the minute buckets. */
export async function listFleetSparklines({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayIds: string[] };
}): Promise<Map<string, SeriesPoint[]>> {
  const actor = requireUser(ctx.actor);
  // Only the caller's group's gateways: an id from elsewhere is dropped, never read.
  const ids = await listGatewayIdsInGroup(ctx.db, actor.groupId, input.gatewayIds);
  return seriesPoints(ctx.db, {
    gatewayIds: ids,
    resolution: 'minute',
    from: new Date(Date.now() - 24 * 3600_000),
    stepSeconds: 3600,
  });
}
