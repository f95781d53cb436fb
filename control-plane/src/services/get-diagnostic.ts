import { type DiagnosticRequest, type DiagnosticResult, FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { type DiagnosticState, gatewayDiagnostics } from '../db/schema/index.js';
import { requireAdmin } from './permissions.js';

export interface DiagnosticView {
  id: string;
  state: DiagnosticState;
  request: DiagnosticRequest;
  result: DiagnosticResult | null;
  createdAt: Date;
  completedAt: Date | null;
}

/** The longest a caller may wait for a result in one request. */
export const DIAGNOSTIC_MAX_WAIT_SECONDS = 30;
const POLL_MS = 200;

/**
 * One diagnostic of a gateway of the admin's group. With `waitSeconds`, polls until it is done or
 * expired (or the wait is over), so a script can ask once. A diagnostic past its deadline reads as
 * expired even before the liveness job has marked it.
 */
export async function getDiagnostic({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayId: string; diagnosticId: string; waitSeconds?: number };
}): Promise<DiagnosticView> {
  const actor = requireAdmin(ctx.actor);
  const waitMs = Math.min(input.waitSeconds ?? 0, DIAGNOSTIC_MAX_WAIT_SECONDS) * 1000;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [row] = await ctx.db
      .select()
      .from(gatewayDiagnostics)
      .where(
        and(
          eq(gatewayDiagnostics.groupId, actor.groupId),
          eq(gatewayDiagnostics.gatewayId, input.gatewayId),
          eq(gatewayDiagnostics.id, input.diagnosticId),
        ),
      );
    if (!row)
      throw new FerryError(
        'resource.not_found',
        `no diagnostic ${input.diagnosticId} for gateway ${input.gatewayId} in your group`,
      );
    const overdue =
      (row.state === 'pending' || row.state === 'sent') && row.expiresAt.getTime() <= Date.now();
    const state: DiagnosticState = overdue ? 'expired' : row.state;
    if (state === 'done' || state === 'expired' || Date.now() + POLL_MS > deadline)
      return {
        id: row.id,
        state,
        request: row.request,
        result: row.result,
        createdAt: row.createdAt,
        completedAt: row.completedAt,
      };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
