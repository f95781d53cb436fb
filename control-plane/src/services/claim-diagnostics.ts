import { type DiagnosticRequest, FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { claimPendingDiagnostics } from '../db/queries/gateway-channel.js';

export interface ClaimedDiagnostic {
  id: string;
  gatewayId: string;
  request: DiagnosticRequest;
}

/**
 * Marks the diagnostics waiting for `gatewayIds` (only `diagnosticId` when given) as sent and returns
 * them for the channel hub to send: the replica holding a gateway's channel claims each diagnostic
 * once, even when two replicas race on one notice. Only the system (the hub) claims.
 */
export async function claimDiagnostics({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayIds: string[]; diagnosticId?: string | undefined };
}): Promise<ClaimedDiagnostic[]> {
  if (ctx.actor.kind !== 'system') throw new FerryError('auth.forbidden', 'only the system does this');
  return claimPendingDiagnostics(ctx.db, input.gatewayIds, input.diagnosticId);
}
