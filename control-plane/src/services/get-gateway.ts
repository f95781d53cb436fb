import type { HealthReport } from '@ferry/shared';
import { desc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type GatewayView, getGatewayViewOr404, latestGatewayConfig } from '../db/queries/gateways.js';
import { gatewayEvents, gatewayStatus } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

/** How many of the gateway's events its detail view shows. */
export const GATEWAY_DETAIL_EVENTS = 50;

export interface GatewayEventView {
  id: string;
  at: Date;
  type: string;
  details: Record<string, unknown>;
}

export interface GatewayDetail extends GatewayView {
  /** The latest desired config (the one `configVersion` numbers), or null before the first. */
  config: Record<string, unknown> | null;
  /** The latest health report, or null before the first heartbeat. */
  health: HealthReport | null;
  /** The latest version the gateway refused and why; null once a newer one applied. */
  rejectedConfig: { version: number; reason: string; at: string } | null;
  /** The most recent events, newest first. */
  events: GatewayEventView[];
}

/** One gateway of the caller's group with its config, health and recent events; another group's is not found. */
export async function getGateway({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<GatewayDetail> {
  const actor = requireUser(ctx.actor);
  const view = await getGatewayViewOr404(ctx.db, actor.groupId, input.id);
  const [latest, [live], events] = await Promise.all([
    latestGatewayConfig(ctx.db, view.id),
    ctx.db
      .select({ health: gatewayStatus.health, rejectedConfig: gatewayStatus.rejectedConfig })
      .from(gatewayStatus)
      .where(eq(gatewayStatus.gatewayId, view.id)),
    ctx.db
      .select({
        id: gatewayEvents.id,
        at: gatewayEvents.at,
        type: gatewayEvents.type,
        details: gatewayEvents.details,
      })
      .from(gatewayEvents)
      .where(eq(gatewayEvents.gatewayId, view.id))
      .orderBy(desc(gatewayEvents.at), desc(gatewayEvents.id))
      .limit(GATEWAY_DETAIL_EVENTS),
  ]);
  return {
    ...view,
    config: latest?.config ?? null,
    health: live?.health ?? null,
    rejectedConfig: live?.rejectedConfig ?? null,
    events,
  };
}
