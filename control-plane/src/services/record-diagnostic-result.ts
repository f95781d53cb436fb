import { type DiagnosticResult, FerryError } from '@ferry/shared';
import { and, eq, gt, inArray } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { gatewayDiagnostics, gatewayEvents } from '../db/schema/index.js';
import { requireAgent } from './permissions.js';

/**
 * Stores the result the calling gateway sent for diagnostic `id`. Only a diagnostic of this gateway
 * that is still waiting takes it; any other id (another gateway's or group's, done, expired, unknown)
 * is a 404 and nothing is written.
 */
export async function recordDiagnosticResult({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { id: string; result: DiagnosticResult };
}): Promise<void> {
  const actor = requireAgent(ctx.actor);
  await ctx.db.transaction(async (tx) => {
    const now = new Date();
    const [row] = await tx
      .update(gatewayDiagnostics)
      .set({ state: 'done', result: input.result, completedAt: now })
      .where(
        and(
          eq(gatewayDiagnostics.id, input.id),
          eq(gatewayDiagnostics.gatewayId, actor.gatewayId),
          eq(gatewayDiagnostics.groupId, actor.groupId),
          inArray(gatewayDiagnostics.state, ['pending', 'sent']),
          gt(gatewayDiagnostics.expiresAt, now),
        ),
      )
      .returning({ id: gatewayDiagnostics.id, request: gatewayDiagnostics.request });
    if (!row)
      throw new FerryError('resource.not_found', `no diagnostic ${input.id} is waiting for this gateway`);
    await tx.insert(gatewayEvents).values({
      groupId: actor.groupId,
      gatewayId: actor.gatewayId,
      at: now,
      type: 'diagnostic',
      details: { diagnosticId: row.id, kind: row.request.kind, ok: input.result.ok },
    });
  });
}
