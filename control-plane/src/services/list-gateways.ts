import type { Ctx } from '../context.js';
import { type GatewayView, selectGatewayViews } from '../db/queries/gateways.js';
import { requireUser } from './permissions.js';

export { GATEWAY_STATUSES } from '../db/schema/index.js';
export type { GatewayView };

/** The gateways of the caller's group, revoked ones included. Readers may list. */
export async function listGateways({ ctx }: { ctx: Ctx; input?: undefined }): Promise<GatewayView[]> {
  const actor = requireUser(ctx.actor);
  return selectGatewayViews(ctx.db, actor.groupId);
}
