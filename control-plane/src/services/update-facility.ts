import { isDeepStrictEqual } from 'node:util';
import { type AeTitleAlias, activeAeTitleAliases, type GatewaySettings } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { isUniqueViolation } from '../db/errors.js';
import {
  aeTitleConflict,
  type FacilityRow,
  findAeTitleHolder,
  getFacilityOr404,
} from '../db/queries/facilities.js';
import { facilities } from '../db/schema/index.js';
import { type AeTitleAliasInput, checkAeTitleAliases, checkAliasesFree } from './ae-title-aliases.js';
import { writeAudit } from './audit.js';
import { appendConfigVersionsIfChanged, checkGatewaySettings } from './gateway-config.js';
import { checkAeTitle, checkName } from './input-rules.js';
import { requireAdmin } from './permissions.js';
import { checkStablePeriod } from './stable-period.js';

export interface UpdateFacilityResult {
  facility: FacilityRow;
  /** The config versions written because the gateways' desired config changed (non-revoked only). */
  configVersions: { gatewayId: string; version: number }[];
}

/**
 * Renames a facility, changes its AE title, its stable period or its gateway settings (`gateway`
 * replaces the overrides; null clears them). A change to what its gateways run (AE title, stable
 * period, settings) becomes a new config version for each of its non-revoked gateways whose config
 * really changed, pushed to them when the transaction commits.
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
    /** Replaces the aliases; left out, the unexpired ones stay (less one the new title takes back). */
    aeTitleAliases?: AeTitleAliasInput[] | undefined;
    stablePeriodSeconds?: number | undefined;
    gateway?: GatewaySettings | null | undefined;
  };
}): Promise<UpdateFacilityResult> {
  const actor = requireAdmin(ctx.actor);
  const name = input.name === undefined ? undefined : checkName(input.name);
  const aeTitle = input.aeTitle === undefined ? undefined : checkAeTitle(input.aeTitle);
  const givenAliases =
    input.aeTitleAliases === undefined ? undefined : checkAeTitleAliases(input.aeTitleAliases);
  const stablePeriodSeconds =
    input.stablePeriodSeconds === undefined ? undefined : checkStablePeriod(input.stablePeriodSeconds);
  const gateway =
    input.gateway === undefined ? undefined : checkGatewaySettings(input.gateway ?? {}, 'gateway');
  try {
    return await ctx.db.transaction(async (tx) => {
      const before = await getFacilityOr404(tx, actor.groupId, input.id, { lock: true });
      const changes: {
        name?: { from: string; to: string };
        aeTitle?: { from: string; to: string };
        aeTitleAliases?: { from: AeTitleAlias[]; to: AeTitleAlias[] };
        stablePeriodSeconds?: { from: number; to: number };
        gateway?: { from: GatewaySettings; to: GatewaySettings };
      } = {};
      if (name !== undefined && name !== before.name) changes.name = { from: before.name, to: name };
      if (aeTitle !== undefined && aeTitle !== before.aeTitle) {
        const holder = await findAeTitleHolder(tx, actor.groupId, aeTitle, before.id);
        if (holder) throw aeTitleConflict(aeTitle, holder.name);
        changes.aeTitle = { from: before.aeTitle, to: aeTitle };
      }
      const title = changes.aeTitle?.to ?? before.aeTitle;
      const aliases =
        givenAliases ?? activeAeTitleAliases(before.aeTitleAliases).filter((a) => a.aeTitle !== title);
      if (givenAliases !== undefined || changes.aeTitle) {
        await checkAliasesFree(
          tx,
          { groupId: actor.groupId, facilityId: before.id },
          { aeTitle: title, aeTitleChanged: changes.aeTitle !== undefined, aliases },
        );
      }
      if (!isDeepStrictEqual(aliases, before.aeTitleAliases))
        changes.aeTitleAliases = { from: before.aeTitleAliases, to: aliases };
      if (stablePeriodSeconds !== undefined && stablePeriodSeconds !== before.stablePeriodSeconds) {
        changes.stablePeriodSeconds = { from: before.stablePeriodSeconds, to: stablePeriodSeconds };
      }
      if (gateway !== undefined) {
        const to = gateway;
        if (!isDeepStrictEqual(to, before.gatewaySettings))
          changes.gateway = { from: before.gatewaySettings, to };
      }
      if (Object.keys(changes).length === 0) return { facility: before, configVersions: [] };

      const [facility] = await tx
        .update(facilities)
        .set({
          ...(changes.name ? { name: changes.name.to } : {}),
          ...(changes.aeTitle ? { aeTitle: changes.aeTitle.to } : {}),
          ...(changes.aeTitleAliases ? { aeTitleAliases: changes.aeTitleAliases.to } : {}),
          ...(changes.stablePeriodSeconds ? { stablePeriodSeconds: changes.stablePeriodSeconds.to } : {}),
          ...(changes.gateway ? { gatewaySettings: changes.gateway.to } : {}),
          updatedAt: new Date(),
        })
        .where(eq(facilities.id, before.id))
        .returning();

      const configVersions = await appendConfigVersionsIfChanged(tx, { facilityId: before.id });
      await writeAudit(tx, ctx, {
        action: 'facility.update',
        targetType: 'facility',
        targetId: before.id,
        details: { changes, ...(configVersions.length > 0 ? { configVersions } : {}) },
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
