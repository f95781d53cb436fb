import { FerryError } from '@ferry/shared';
import { and, inArray, lte } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { gatewayDiagnostics } from '../db/schema/index.js';

/** Marks diagnostics that were not answered by their deadline as expired; returns how many. */
export async function expireDiagnostics({ ctx }: { ctx: Ctx }): Promise<{ expired: number }> {
  if (ctx.actor.kind !== 'system') throw new FerryError('auth.forbidden', 'only the system does this');
  const rows = await ctx.db
    .update(gatewayDiagnostics)
    .set({ state: 'expired' })
    .where(
      and(
        inArray(gatewayDiagnostics.state, ['pending', 'sent']),
        lte(gatewayDiagnostics.expiresAt, new Date()),
      ),
    )
    .returning({ id: gatewayDiagnostics.id });
  return { expired: rows.length };
}
