import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import {
  aeTitleConflict,
  type FacilityRow,
  findAeTitleHolder,
  getFacilityOr404,
} from '../db/queries/facilities.js';
import { facilities, gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { appendConfigVersion, buildGatewayConfig } from './gateway-config.js';
import { checkAeTitle, checkName } from './input-rules.js';
import { requireAdmin } from './permissions.js';
import { checkStablePeriod } from './stable-period.js';

export interface UpdateFacilityResult {
  facility: FacilityRow;
  /** The config versions written because the AE title changed, one per non-revoked gateway. */
  configVersions: { gatewayId: string; version: number }[];
}

/**
 * Renames a facility, changes its AE title or its stable period. A new AE title becomes a new config
 * version for every non-revoked gateway of the facility, in the same transaction as the change.
 */
export async function updateFacility({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: {
    id: string;
    name?: string | undefined;
    aeTitle?: string | undefined;
    stablePeriodSeconds?: number | undefined;
  };
}): Promise<UpdateFacilityResult> {
  const actor = requireAdmin(ctx.actor);
  const name = input.name === undefined ? undefined : checkName(input.name);
  const aeTitle = input.aeTitle === undefined ? undefined : checkAeTitle(input.aeTitle);
  const stablePeriodSeconds =
    input.stablePeriodSeconds === undefined ? undefined : checkStablePeriod(input.stablePeriodSeconds);
  try {
    return await ctx.db.transaction(async (tx) => {
      const before = await getFacilityOr404(tx, actor.groupId, input.id, { lock: true });
      const changes: {
        name?: { from: string; to: string };
        aeTitle?: { from: string; to: string };
        stablePeriodSeconds?: { from: number; to: number };
      } = {};
      if (name !== undefined && name !== before.name) changes.name = { from: before.name, to: name };
      if (aeTitle !== undefined && aeTitle !== before.aeTitle) {
        const holder = await findAeTitleHolder(tx, actor.groupId, aeTitle, before.id);
        if (holder) throw aeTitleConflict(aeTitle, holder.name);
        changes.aeTitle = { from: before.aeTitle, to: aeTitle };
      }
      if (stablePeriodSeconds !== undefined && stablePeriodSeconds !== before.stablePeriodSeconds) {
        changes.stablePeriodSeconds = { from: before.stablePeriodSeconds, to: stablePeriodSeconds };
      }
      if (Object.keys(changes).length === 0) return { facility: before, configVersions: [] };

      const [facility] = await tx
        .update(facilities)
        .set({
          ...(changes.name ? { name: changes.name.to } : {}),
          ...(changes.aeTitle ? { aeTitle: changes.aeTitle.to } : {}),
          ...(changes.stablePeriodSeconds ? { stablePeriodSeconds: changes.stablePeriodSeconds.to } : {}),
          updatedAt: new Date(),
        })
        .where(eq(facilities.id, before.id))
        .returning();

      const configVersions: { gatewayId: string; version: number }[] = [];
      if (changes.aeTitle) {
        const active = await tx
          .select({ id: gateways.id })
          .from(gateways)
          .where(and(eq(gateways.facilityId, before.id), isNull(gateways.revokedAt)))
          .orderBy(asc(gateways.id));
        const config = buildGatewayConfig(facility!);
        for (const gw of active) {
          configVersions.push({ gatewayId: gw.id, version: await appendConfigVersion(tx, gw.id, config) });
        }
      }
      await writeAudit(tx, ctx, {
        action: 'facility.update',
        targetType: 'facility',
        targetId: before.id,
        details: { changes, ...(changes.aeTitle ? { configVersions } : {}) },
      });
      return { facility: facility!, configVersions };
    });
  } catch (err) {
    if (isUniqueViolation(err) && aeTitle !== undefined) {
      const holder = await findAeTitleHolder(ctx.db, actor.groupId, aeTitle, input.id);
      throw aeTitleConflict(aeTitle, holder?.name);
    }
    throw err;
  }
}
