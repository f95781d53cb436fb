import { FerryError } from '@ferry/shared';
import { and, count, eq, isNotNull, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { isForeignKeyViolation } from '../db/errors.js';
import { getFacilityOr404 } from '../db/queries/facilities.js';
import { facilities, gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/**
 * Deletes a facility that no active gateway serves; its revoked gateways (and their config
 * history) and its enrollment tokens go with it.
 */
export async function deleteFacility({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<void> {
  const actor = requireAdmin(ctx.actor);
  try {
    await ctx.db.transaction(async (tx) => {
      // The row lock makes a concurrent enrollment into this facility wait for us, or us for it.
      const facility = await getFacilityOr404(tx, actor.groupId, input.id, { lock: true });
      const [active] = await tx
        .select({ n: count() })
        .from(gateways)
        .where(and(eq(gateways.facilityId, facility.id), isNull(gateways.revokedAt)));
      const n = Number(active?.n ?? 0);
      if (n > 0) {
        throw new FerryError(
          'resource.conflict',
          `facility "${facility.name}" still has ${n} active gateway${n === 1 ? '' : 's'}; revoke ${n === 1 ? 'it' : 'them'} first`,
        );
      }
      const removed = await tx
        .delete(gateways)
        .where(and(eq(gateways.facilityId, facility.id), isNotNull(gateways.revokedAt)))
        .returning({ id: gateways.id });
      await tx.delete(facilities).where(eq(facilities.id, facility.id));
      await writeAudit(tx, ctx, {
        action: 'facility.delete',
        targetType: 'facility',
        targetId: facility.id,
        details: {
          name: facility.name,
          aeTitle: facility.aeTitle,
          revokedGatewaysRemoved: removed.map((r) => r.id),
        },
      });
    });
  } catch (err) {
    // A gateway enrolled between our check and our delete.
    if (isForeignKeyViolation(err)) {
      throw new FerryError(
        'resource.conflict',
        'a gateway was just enrolled into this facility; revoke it first',
      );
    }
    throw err;
  }
}
