import type { DiagnosticRequest } from '@ferry/shared';
import { and, desc, eq, gt, inArray, isNotNull } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { configVersions, gatewayDiagnostics, gateways } from '../schema/index.js';

export interface ConfigVersionRow {
  version: number;
  config: Record<string, unknown>;
}

/** The latest desired config of each of `gatewayIds` (one query); gateways with none are absent. */
export async function latestConfigVersions(
  db: DbOrTx,
  gatewayIds: string[],
): Promise<Map<string, ConfigVersionRow>> {
  const latest = new Map<string, ConfigVersionRow>();
  if (gatewayIds.length === 0) return latest;
  const rows = await db
    .selectDistinctOn([configVersions.gatewayId], {
      gatewayId: configVersions.gatewayId,
      version: configVersions.version,
      config: configVersions.config,
    })
    .from(configVersions)
    .where(inArray(configVersions.gatewayId, gatewayIds))
    .orderBy(configVersions.gatewayId, desc(configVersions.version));
  for (const r of rows) latest.set(r.gatewayId, { version: r.version, config: r.config });
  return latest;
}

/** Rows of a raw `execute`: both drivers answer `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/**
 * Marks waiting diagnostics of `gatewayIds` (just `id` when given) as sent and returns them, so the
 * replica holding each channel sends each once, even when two replicas race on a notice.
 */
export async function claimPendingDiagnostics(
  db: DbOrTx,
  gatewayIds: string[],
  id?: string,
): Promise<{ id: string; gatewayId: string; request: DiagnosticRequest }[]> {
  if (gatewayIds.length === 0) return [];
  const now = new Date();
  return db
    .update(gatewayDiagnostics)
    .set({ state: 'sent', sentAt: now })
    .where(
      and(
        inArray(gatewayDiagnostics.gatewayId, gatewayIds),
        eq(gatewayDiagnostics.state, 'pending'),
        gt(gatewayDiagnostics.expiresAt, now),
        id === undefined ? undefined : eq(gatewayDiagnostics.id, id),
      ),
    )
    .returning({
      id: gatewayDiagnostics.id,
      gatewayId: gatewayDiagnostics.gatewayId,
      request: gatewayDiagnostics.request,
    });
}

/** Which of `gatewayIds` are revoked. */
export async function revokedGatewayIds(db: DbOrTx, gatewayIds: string[]): Promise<string[]> {
  if (gatewayIds.length === 0) return [];
  const rows = await db
    .select({ id: gateways.id })
    .from(gateways)
    .where(and(inArray(gateways.id, gatewayIds), isNotNull(gateways.revokedAt)));
  return rows.map((r) => r.id);
}
