import type { Ctx } from '../context.js';
import { type ConfigVersionRow, latestConfigVersions } from '../db/queries/gateway-channel.js';

/** A desired config version, as a channel sends it to its gateway. */
export type GatewayConfigVersion = ConfigVersionRow;

/**
 * The latest desired config of each of `gatewayIds` (one query); gateways with none are absent. For
 * the channels: the hub asks for the gateways it holds, a channel for its own gateway.
 */
export function latestGatewayConfigs({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayIds: string[] };
}): Promise<Map<string, GatewayConfigVersion>> {
  return latestConfigVersions(ctx.db, input.gatewayIds);
}
