import { type DiagnosticRequest, FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { notifyGateways } from '../db/notify.js';
import { type DiagnosticState, gatewayDiagnostics, gatewayStatus, gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/** How long a gateway has to answer a diagnostic. */
export const DIAGNOSTIC_TTL_MS = 60_000;

/**
 * Asks a gateway of the admin's group to run a diagnostic. The request is stored and the replicas are
 * told on commit; whichever holds the gateway's channel sends it. A gateway without a live channel
 * cannot be asked (409 gateway.offline).
 */
export async function startDiagnostic({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayId: string; request: DiagnosticRequest };
}): Promise<{ id: string; state: DiagnosticState }> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const [gw] = await tx
      .select({ id: gateways.id, revokedAt: gateways.revokedAt, channelId: gatewayStatus.channelId })
      .from(gateways)
      .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
      .where(and(eq(gateways.groupId, actor.groupId), eq(gateways.id, input.gatewayId)));
    if (!gw) throw new FerryError('resource.not_found', `no gateway ${input.gatewayId} in your group`);
    if (gw.revokedAt || !gw.channelId)
      throw new FerryError(
        'gateway.offline',
        `gateway ${input.gatewayId} has no live control channel; try again when it is online`,
      );
    const [row] = await tx
      .insert(gatewayDiagnostics)
      .values({
        groupId: actor.groupId,
        gatewayId: gw.id,
        request: input.request,
        requestedBy: actor.userId,
        expiresAt: new Date(Date.now() + DIAGNOSTIC_TTL_MS),
      })
      .returning({ id: gatewayDiagnostics.id, state: gatewayDiagnostics.state });
    await notifyGateways(tx, { kind: 'diagnostic', gatewayId: gw.id, diagnosticId: row!.id });
    await writeAudit(tx, ctx, {
      action: 'gateway.diagnostic',
      targetType: 'gateway',
      targetId: gw.id,
      details: { diagnosticId: row!.id, kind: input.request.kind },
    });
    return { id: row!.id, state: row!.state };
  });
}
