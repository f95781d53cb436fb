import { and, desc, eq, gte, lt } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { auditLog } from '../db/schema/index.js';
import { requireAdmin } from './permissions.js';

export type AuditEntry = typeof auditLog.$inferSelect;

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

/**
 * The caller's group's audit log, newest first. `before` is the id of the last entry already seen
 * (the previous page's `nextBefore`); `action` and `targetType` filter by exact name, `from` (inclusive)
 * and `to` (exclusive) by time. Admins only.
 */
export async function listAudit({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: {
    action?: string | undefined;
    targetType?: string | undefined;
    from?: Date | undefined;
    to?: Date | undefined;
    limit?: number | undefined;
    before?: number | undefined;
  };
}): Promise<{ entries: AuditEntry[]; nextBefore: number | null }> {
  const actor = requireAdmin(ctx.actor);
  const limit = Math.min(Math.max(input.limit ?? AUDIT_PAGE_DEFAULT, 1), AUDIT_PAGE_MAX);
  const entries = await ctx.db
    .select()
    .from(auditLog)
    .where(
      and(
        eq(auditLog.groupId, actor.groupId),
        input.action !== undefined ? eq(auditLog.action, input.action) : undefined,
        input.targetType !== undefined ? eq(auditLog.targetType, input.targetType) : undefined,
        input.from !== undefined ? gte(auditLog.at, input.from) : undefined,
        input.to !== undefined ? lt(auditLog.at, input.to) : undefined,
        input.before !== undefined ? lt(auditLog.id, input.before) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit);
  const last = entries.at(-1);
  return { entries, nextBefore: entries.length === limit && last ? last.id : null };
}
