import type { Ctx } from '../context.js';
import { revokedGatewayIds } from '../db/queries/gateway-channel.js';

/** Which of `gatewayIds` are revoked: the channel hub ends their channels even when a notice was lost. */
export function listRevokedGateways({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayIds: string[] };
}): Promise<string[]> {
  return revokedGatewayIds(ctx.db, input.gatewayIds);
}
