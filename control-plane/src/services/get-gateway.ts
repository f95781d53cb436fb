import type { Ctx } from '../context.js';
import { type GatewayView, getGatewayViewOr404, latestGatewayConfig } from '../db/queries/gateways.js';
import { requireUser } from './permissions.js';

export interface GatewayDetail extends GatewayView {
  /** The latest desired config (the one `configVersion` numbers), or null before the first. */
  config: Record<string, unknown> | null;
}

/** One gateway of the caller's group with its desired config; another group's is not found. */
export async function getGateway({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<GatewayDetail> {
  const actor = requireUser(ctx.actor);
  const view = await getGatewayViewOr404(ctx.db, actor.groupId, input.id);
  const latest = await latestGatewayConfig(ctx.db, view.id);
  return { ...view, config: latest?.config ?? null };
}
