import type { Ctx } from '../context.js';
import { type SeriesPoint, seriesPoints } from '../db/queries/gateway-series.js';
import { getGatewayViewOr404 } from '../db/queries/gateways.js';
import type { SeriesResolution } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

export type { SeriesPoint } from '../db/queries/gateway-series.js';

export const SERIES_RANGES = ['1h', '24h', '7d'] as const;
export type SeriesRange = (typeof SERIES_RANGES)[number];

/** Each range's source buckets and point width: at most a few hundred points per chart. */
const RANGE_SHAPE: Record<SeriesRange, { ms: number; resolution: SeriesResolution; stepSeconds: number }> = {
  '1h': { ms: 3600_000, resolution: 'minute', stepSeconds: 60 },
  '24h': { ms: 24 * 3600_000, resolution: 'minute', stepSeconds: 300 },
  '7d': { ms: 7 * 24 * 3600_000, resolution: 'hour', stepSeconds: 3600 },
};

export interface GatewaySeries {
  range: SeriesRange;
  from: Date;
  to: Date;
  /** Seconds each point spans. */
  stepSeconds: number;
  points: SeriesPoint[];
}

/** One gateway's charts over `range`; another group's gateway is not found. */
export async function getGatewaySeries({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayId: string; range: SeriesRange };
}): Promise<GatewaySeries> {
  const actor = requireUser(ctx.actor);
  const view = await getGatewayViewOr404(ctx.db, actor.groupId, input.gatewayId);
  const shape = RANGE_SHAPE[input.range];
  const to = new Date();
  const from = new Date(to.getTime() - shape.ms);
  const points = await seriesPoints(ctx.db, {
    gatewayIds: [view.id],
    resolution: shape.resolution,
    from,
    stepSeconds: shape.stepSeconds,
  });
  return { range: input.range, from, to, stepSeconds: shape.stepSeconds, points: points.get(view.id) ?? [] };
}
