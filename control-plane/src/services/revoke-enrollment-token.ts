import { FerryError } from '@ferry/shared';
import { and, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { enrollmentTokens } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { type EnrollmentTokenSummary, enrollmentTokenSummaryColumns } from './list-enrollment-tokens.js';
import { requireAdmin } from './permissions.js';

/** Revokes a token of the admin's group so it enrolls nothing more; revoking twice changes nothing. */
export async function revokeEnrollmentToken({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { tokenId: string };
}): Promise<EnrollmentTokenSummary> {
  const admin = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const inGroup = and(eq(enrollmentTokens.id, input.tokenId), eq(enrollmentTokens.groupId, admin.groupId));
    const [revoked] = await tx
      .update(enrollmentTokens)
      .set({ revokedAt: new Date() })
      .where(and(inGroup, isNull(enrollmentTokens.revokedAt)))
      .returning(enrollmentTokenSummaryColumns);
    if (revoked) {
      await writeAudit(tx, ctx, {
        action: 'enrollment_token.revoke',
        targetType: 'enrollment_token',
        targetId: revoked.id,
        details: { facilityId: revoked.facilityId, uses: revoked.uses },
      });
      return revoked;
    }
    const [existing] = await tx.select(enrollmentTokenSummaryColumns).from(enrollmentTokens).where(inGroup);
    if (!existing)
      throw new FerryError('resource.not_found', `no enrollment token ${input.tokenId} in your group`);
    return existing;
  });
}
