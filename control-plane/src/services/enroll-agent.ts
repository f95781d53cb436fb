import { FerryError } from '@ferry/shared';
import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import { enrollmentTokens, facilities, gateways, groups } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { hashEnrollmentToken } from './enrollment-token-secret.js';
import { appendConfigVersion, buildGatewayConfig, type GatewayConfig } from './gateway-config.js';
import { freeDefaultName, gatewayNameConflict } from './gateway-name.js';
import { hitRateLimit, LONGEST_RATE_LIMIT_WINDOW_MS } from './rate-limit.js';

/** Refused enrollment attempts allowed per client address and window before 429. */
const REFUSALS_PER_ADDRESS = 30;
const REFUSAL_WINDOW_MS = LONGEST_RATE_LIMIT_WINDOW_MS;

export interface EnrolledAgent {
  gatewayId: string;
  name: string;
  facility: { id: string; name: string; aeTitle: string };
  config: GatewayConfig;
  configVersion: number;
  recipientPublicKey: JWK;
}

/** Why a token did not enroll, worded for the person running `ferry-agent enroll`. */
async function refusalReason(
  ctx: Ctx,
  tokenHash: string,
): Promise<{ message: string; token?: { id: string; groupId: string } }> {
  const [row] = await ctx.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.tokenHash, tokenHash));
  const ask = 'ask an administrator for a new enrollment token';
  if (!row) return { message: `this enrollment token is not known; ${ask}` };
  const token = { id: row.id, groupId: row.groupId };
  if (row.revokedAt) return { token, message: `this enrollment token was revoked; ${ask}` };
  if (row.expiresAt.getTime() <= Date.now())
    return { token, message: `this enrollment token expired at ${row.expiresAt.toISOString()}; ${ask}` };
  if (row.uses >= row.maxUses)
    return {
      token,
      message: `this enrollment token was already used${row.maxUses > 1 ? ` ${row.uses} times (its limit)` : ''}; ${ask}`,
    };
  // Valid now, so the refusal was a race with another enrollment or an expiry at the boundary.
  return { token, message: `this enrollment token cannot be used right now; ${ask}` };
}

/**
 * Exchanges an enrollment token for a gateway registration. The token is the only credential: one
 * use is consumed by a single conditional UPDATE, so two concurrent attempts on a single-use token
 * cannot both pass. The gateway row, its first config version and the audit row commit together
 * with that use, or not at all.
 */
export async function enrollAgent({
  ctx,
  input,
  recipientPublicKey,
}: {
  ctx: Ctx;
  /** `name`: the operator's (`ferry-agent enroll --name`), already checked against gatewayNameSchema. */
  input: { token: string; publicKey: JWK; hostname: string; version: string; name?: string | undefined };
  recipientPublicKey: JWK;
}): Promise<EnrolledAgent> {
  const tokenHash = hashEnrollmentToken(input.token);
  const enrolled = await ctx.db
    .transaction(async (tx) => {
      const [use] = await tx
        .update(enrollmentTokens)
        .set({ uses: sql`${enrollmentTokens.uses} + 1` })
        .where(
          and(
            eq(enrollmentTokens.tokenHash, tokenHash),
            lt(enrollmentTokens.uses, enrollmentTokens.maxUses),
            isNull(enrollmentTokens.revokedAt),
            gt(enrollmentTokens.expiresAt, sql`now()`),
          ),
        )
        .returning({
          id: enrollmentTokens.id,
          groupId: enrollmentTokens.groupId,
          facilityId: enrollmentTokens.facilityId,
          uses: enrollmentTokens.uses,
          maxUses: enrollmentTokens.maxUses,
        });
      if (!use) return undefined;
      const [facility] = await tx.select().from(facilities).where(eq(facilities.id, use.facilityId));
      if (!facility) throw new Error(`enrollment token ${use.id} points at a missing facility`);
      const name = input.name ?? (await freeDefaultName(tx, facility.id, facility.name, input.hostname));
      const [gateway] = await tx
        .insert(gateways)
        .values({
          groupId: use.groupId,
          facilityId: facility.id,
          publicKey: input.publicKey,
          hostname: input.hostname,
          name,
          version: input.version,
        })
        .returning({ id: gateways.id });
      if (!gateway) throw new Error('gateway insert returned no row');
      const [group] = await tx
        .select({ gatewaySettings: groups.gatewaySettings })
        .from(groups)
        .where(eq(groups.id, use.groupId));
      const config = buildGatewayConfig(facility, group?.gatewaySettings);
      const configVersion = await appendConfigVersion(tx, gateway.id, config);
      const agentCtx: Ctx = {
        ...ctx,
        actor: { kind: 'agent', gatewayId: gateway.id, groupId: use.groupId, facilityId: facility.id },
      };
      await writeAudit(tx, agentCtx, {
        action: 'gateway.enroll',
        targetType: 'gateway',
        targetId: gateway.id,
        details: {
          facilityId: facility.id,
          enrollmentTokenId: use.id,
          tokenUses: use.uses,
          tokenMaxUses: use.maxUses,
          hostname: input.hostname,
          name,
          version: input.version,
        },
      });
      return {
        gatewayId: gateway.id,
        name,
        facility: { id: facility.id, name: facility.name, aeTitle: facility.aeTitle },
        config,
        configVersion,
        recipientPublicKey,
      };
    })
    .catch((err: unknown) => {
      // A name the operator chose that another gateway of the facility holds: the whole enrolment is
      // refused, so the token is not spent.
      if (isUniqueViolation(err) && input.name !== undefined) throw gatewayNameConflict(input.name);
      throw err;
    });
  if (enrolled) {
    ctx.log.info(
      { event: 'gateway.enrolled', gatewayId: enrolled.gatewayId, facilityId: enrolled.facility.id },
      'gateway enrolled',
    );
    return enrolled;
  }
  const reason = await refusalReason(ctx, tokenHash);
  ctx.log.warn(
    { event: 'gateway.enroll_refused', enrollmentTokenId: reason.token?.id, ip: ctx.ip },
    'enrollment refused',
  );
  if (reason.token) {
    await writeAudit(ctx.db, ctx, {
      action: 'gateway.enroll_refused',
      groupId: reason.token.groupId,
      targetType: 'enrollment_token',
      targetId: reason.token.id,
      details: { reason: reason.message, hostname: input.hostname },
    });
  }
  if (ctx.ip) await hitRateLimit(ctx.db, `enroll:address:${ctx.ip}`, REFUSALS_PER_ADDRESS, REFUSAL_WINDOW_MS);
  throw new FerryError('enrollment.token_invalid', reason.message);
}
