import { FerryError } from '@ferry/shared';
import { and, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { alerts } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

/**
 * Marks an open alert of the caller's group as seen by this admin (who, when). Acknowledging twice
 * keeps the first acknowledgement; another group's alert is not found.
 */
export async function acknowledgeAlert({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string };
}): Promise<{ acknowledgedAt: Date }> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ id: alerts.id, gatewayId: alerts.gatewayId, code: alerts.code, at: alerts.acknowledgedAt })
      .from(alerts)
      .where(and(eq(alerts.groupId, actor.groupId), eq(alerts.id, input.id), isNull(alerts.closedAt)))
      .for('update');
    if (!row) throw new FerryError('resource.not_found', `no open alert ${input.id} in your group`);
    if (row.at) return { acknowledgedAt: row.at };
    const now = new Date();
    await tx
      .update(alerts)
      .set({ acknowledgedAt: now, acknowledgedBy: actor.userId })
      .where(eq(alerts.id, row.id));
    await writeAudit(tx, ctx, {
      action: 'alert.acknowledge',
      targetType: 'gateway',
      targetId: row.gatewayId,
      details: { alertId: row.id, code: row.code },
    });
    return { acknowledgedAt: now };
  });
}
