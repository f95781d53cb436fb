import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { notifyGateways } from '../db/notify.js';
import { type GatewayView, getGatewayViewOr404 } from '../db/queries/gateways.js';
import { gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/**
 * Revokes a gateway: its next call is refused and told to re-enroll, and its live channel is closed.
 * Revoking a revoked gateway changes nothing and returns it as it is.
 */
export async function revokeGateway({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<GatewayView> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const [gw] = await tx
      .select({ id: gateways.id, revokedAt: gateways.revokedAt, hostname: gateways.hostname })
      .from(gateways)
      .where(and(eq(gateways.groupId, actor.groupId), eq(gateways.id, input.id)))
      .for('update');
    if (!gw) throw new FerryError('resource.not_found', `no gateway ${input.id} in your group`);
    if (!gw.revokedAt) {
      await tx.update(gateways).set({ revokedAt: new Date() }).where(eq(gateways.id, gw.id));
      // Delivered on commit: the replica holding its channel sends reenroll and closes it.
      await notifyGateways(tx, { kind: 'revoked', gatewayId: gw.id });
      await writeAudit(tx, ctx, {
        action: 'gateway.revoke',
        targetType: 'gateway',
        targetId: gw.id,
        details: { hostname: gw.hostname },
      });
    }
    return getGatewayViewOr404(tx, actor.groupId, gw.id);
  });
}
