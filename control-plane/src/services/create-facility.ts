import type { GatewaySettings } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import { aeTitleConflict, type FacilityRow, findAeTitleHolder } from '../db/queries/facilities.js';
import { facilities } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { checkGatewaySettings } from './gateway-config.js';
import { checkAeTitle, checkName } from './input-rules.js';
import { requireAdmin } from './permissions.js';
import { checkStablePeriod, STABLE_PERIOD_DEFAULT_SECONDS } from './stable-period.js';

/**
 * Adds a facility to the caller's group; its AE title must be free within the group. Its stable period
 * (how long after its last instance a study is complete) defaults to 60 s; `gateway` overrides the
 * group's gateway settings for the facility's gateways.
 */
export async function createFacility({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: {
    name: string;
    aeTitle: string;
    stablePeriodSeconds?: number | undefined;
    gateway?: GatewaySettings | null | undefined;
  };
}): Promise<FacilityRow> {
  const actor = requireAdmin(ctx.actor);
  const name = checkName(input.name);
  const aeTitle = checkAeTitle(input.aeTitle);
  const stablePeriodSeconds = checkStablePeriod(input.stablePeriodSeconds ?? STABLE_PERIOD_DEFAULT_SECONDS);
  const gatewaySettings = checkGatewaySettings(input.gateway ?? {}, 'gateway');
  try {
    return await ctx.db.transaction(async (tx) => {
      const holder = await findAeTitleHolder(tx, actor.groupId, aeTitle);
      if (holder) throw aeTitleConflict(aeTitle, holder.name);
      const [row] = await tx
        .insert(facilities)
        .values({ groupId: actor.groupId, name, aeTitle, stablePeriodSeconds, gatewaySettings })
        .returning();
      await writeAudit(tx, ctx, {
        action: 'facility.create',
        targetType: 'facility',
        targetId: row!.id,
        details: {
          name,
          aeTitle,
          stablePeriodSeconds,
          ...(Object.keys(gatewaySettings).length > 0 ? { gateway: gatewaySettings } : {}),
        },
      });
      return row!;
    });
  } catch (err) {
    // A concurrent request took the title between our check and our insert.
    if (isUniqueViolation(err)) {
      const holder = await findAeTitleHolder(ctx.db, actor.groupId, aeTitle);
      throw aeTitleConflict(aeTitle, holder?.name);
    }
    throw err;
  }
}
