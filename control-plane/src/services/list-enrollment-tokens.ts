import { and, desc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { getFacilityOr404 } from '../db/queries/facilities.js';
import { enrollmentTokens } from '../db/schema/index.js';
import { requireAdmin } from './permissions.js';

/** An enrollment token as listed: never the secret or its hash. */
export interface EnrollmentTokenSummary {
  id: string;
  facilityId: string;
  createdAt: Date;
  expiresAt: Date;
  maxUses: number;
  uses: number;
  revokedAt: Date | null;
}

export const enrollmentTokenSummaryColumns = {
  id: enrollmentTokens.id,
  facilityId: enrollmentTokens.facilityId,
  createdAt: enrollmentTokens.createdAt,
  expiresAt: enrollmentTokens.expiresAt,
  maxUses: enrollmentTokens.maxUses,
  uses: enrollmentTokens.uses,
  revokedAt: enrollmentTokens.revokedAt,
};

/** The facility's enrollment tokens, newest first (used, expired and revoked ones too). */
export async function listEnrollmentTokens({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { facilityId: string };
}): Promise<EnrollmentTokenSummary[]> {
  const admin = requireAdmin(ctx.actor);
  const facility = await getFacilityOr404(ctx.db, admin.groupId, input.facilityId);
  return ctx.db
    .select(enrollmentTokenSummaryColumns)
    .from(enrollmentTokens)
    .where(and(eq(enrollmentTokens.facilityId, facility.id), eq(enrollmentTokens.groupId, admin.groupId)))
    .orderBy(desc(enrollmentTokens.createdAt));
}
