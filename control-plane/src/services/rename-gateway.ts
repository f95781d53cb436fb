import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import { type GatewayView, getGatewayViewOr404 } from '../db/queries/gateways.js';
import { gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { gatewayNameConflict } from './gateway-name.js';
import { requireAdmin } from './permissions.js';

/**
 * Gives a gateway of the caller's group a new display name (admins only). `name` has been checked
 * against gatewayNameSchema (trimmed, 1–64 characters); the facility's unique index refuses a name
 * another of its gateways holds. A revoked gateway is refused (409): it stays as it was when revoked.
 * Renaming to the same name changes nothing and writes no audit row.
 */
export async function renameGateway({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string; name: string };
}): Promise<GatewayView> {
  const actor = requireAdmin(ctx.actor);
  try {
    return await ctx.db.transaction(async (tx) => {
      const [gw] = await tx
        .select({ id: gateways.id, name: gateways.name, revokedAt: gateways.revokedAt })
        .from(gateways)
        .where(and(eq(gateways.groupId, actor.groupId), eq(gateways.id, input.id)))
        .for('update');
      if (!gw) throw new FerryError('resource.not_found', `no gateway ${input.id} in your group`);
      if (gw.revokedAt)
        throw new FerryError(
          'resource.conflict',
          `gateway "${gw.name}" is revoked; a revoked gateway cannot be renamed`,
        );
      if (gw.name !== input.name) {
        await tx.update(gateways).set({ name: input.name }).where(eq(gateways.id, gw.id));
        await writeAudit(tx, ctx, {
          action: 'gateway.rename',
          targetType: 'gateway',
          targetId: gw.id,
          details: { from: gw.name, to: input.name },
        });
      }
      return getGatewayViewOr404(tx, actor.groupId, gw.id);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw gatewayNameConflict(input.name);
    throw err;
  }
}
