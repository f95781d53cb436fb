import type { Ctx } from '../context.js';
import type { DbOrTx } from '../db/client.js';
import { auditLog } from '../db/schema/index.js';

export interface AuditEntryInput {
  action: string;
  targetType?: string;
  targetId?: string;
  groupId?: string;
  details?: Record<string, unknown>;
}

/** Writes the audit row inside the caller's transaction, so a change and its record commit together. */
export async function writeAudit(tx: DbOrTx, ctx: Ctx, entry: AuditEntryInput): Promise<void> {
  await writeAudits(tx, ctx, [entry]);
}

/** Several audit rows of one request in one insert (e.g. one per study a read touched). */
export async function writeAudits(tx: DbOrTx, ctx: Ctx, entries: readonly AuditEntryInput[]): Promise<void> {
  if (entries.length === 0) return;
  const a = ctx.actor;
  await tx.insert(auditLog).values(
    entries.map((entry) => ({
      groupId: entry.groupId ?? (a.kind === 'system' ? null : a.groupId),
      actorType: a.kind,
      actorId: a.kind === 'user' ? a.userId : a.kind === 'agent' ? a.gatewayId : null,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      details: entry.details ?? null,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId,
    })),
  );
}
