import type { Ctx } from '../context.js';
import { getFacilityOr404 } from '../db/queries/facilities.js';
import { enrollmentTokens } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { hashEnrollmentToken, newEnrollmentToken } from './enrollment-token-secret.js';
import { requireAdmin } from './permissions.js';

export const DEFAULT_ENROLLMENT_TOKEN_HOURS = 24;

export interface CreatedEnrollmentToken {
  id: string;
  /** The secret itself: returned once, stored only as its hash. */
  token: string;
  facilityId: string;
  expiresAt: Date;
  maxUses: number;
}

/** Issues a one-time (or `maxUses`-time) token that enrolls gateways into one facility of the admin's group. */
export async function createEnrollmentToken({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { facilityId: string; expiresInHours?: number; maxUses?: number };
}): Promise<CreatedEnrollmentToken> {
  const admin = requireAdmin(ctx.actor);
  const token = newEnrollmentToken();
  const hours = input.expiresInHours ?? DEFAULT_ENROLLMENT_TOKEN_HOURS;
  const maxUses = input.maxUses ?? 1;
  return ctx.db.transaction(async (tx) => {
    const facility = await getFacilityOr404(tx, admin.groupId, input.facilityId);
    const [row] = await tx
      .insert(enrollmentTokens)
      .values({
        groupId: admin.groupId,
        facilityId: facility.id,
        tokenHash: hashEnrollmentToken(token),
        expiresAt: new Date(Date.now() + hours * 3_600_000),
        maxUses,
        createdBy: admin.userId,
      })
      .returning();
    if (!row) throw new Error('enrollment token insert returned no row');
    await writeAudit(tx, ctx, {
      action: 'enrollment_token.create',
      targetType: 'enrollment_token',
      targetId: row.id,
      details: { facilityId: facility.id, expiresAt: row.expiresAt.toISOString(), maxUses },
    });
    return { id: row.id, token, facilityId: facility.id, expiresAt: row.expiresAt, maxUses: row.maxUses };
  });
}
