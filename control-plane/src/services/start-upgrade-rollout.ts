import { compareReleaseVersions, FerryError, type ReleaseDescriptor } from '@ferry/shared';
import { and, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { notifyGateways } from '../db/notify.js';
import { facilities, gatewayStatus, gateways, upgradeRollouts } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAdmin } from './permissions.js';

export interface StartedRollout {
  rolloutId: string;
  version: string;
  canaryGatewayId: string;
  /** Gateways upgraded once the canary is back. */
  waiting: number;
}

/**
 * Upgrades the gateways of a facility (or of the whole group) that run a version older than the
 * served release, canary first: the first of them with a live channel is sent the release now, the
 * others once it came back online on the new version (advanceUpgradeRollouts). Refuses when every
 * gateway is up to date (resource.conflict) or none of those behind is online (gateway.offline).
 */
export async function startUpgradeRollout({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { facilityId?: string | undefined; release: () => Promise<ReleaseDescriptor> };
}): Promise<StartedRollout> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    if (input.facilityId !== undefined) {
      const [f] = await tx
        .select({ id: facilities.id })
        .from(facilities)
        .where(and(eq(facilities.id, input.facilityId), eq(facilities.groupId, actor.groupId)));
      if (!f) throw new FerryError('resource.not_found', `no facility ${input.facilityId} in your group`);
    }
    const release = await input.release();
    const rows = await tx
      .select({ id: gateways.id, version: gateways.version, channelId: gatewayStatus.channelId })
      .from(gateways)
      .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
      .where(
        and(
          eq(gateways.groupId, actor.groupId),
          isNull(gateways.revokedAt),
          input.facilityId !== undefined ? eq(gateways.facilityId, input.facilityId) : undefined,
        ),
      )
      .orderBy(gateways.enrolledAt, gateways.id);
    const behind = rows.filter((r) => compareReleaseVersions(r.version, release.version) < 0);
    if (behind.length === 0)
      throw new FerryError('resource.conflict', `every gateway already runs ${release.version} or newer`);
    const canary = behind.find((r) => r.channelId !== null);
    if (!canary)
      throw new FerryError(
        'gateway.offline',
        `none of the ${behind.length} gateways behind ${release.version} has a live control channel to be the canary`,
      );
    const rest = behind.filter((r) => r.id !== canary.id).map((r) => r.id);
    const [row] = await tx
      .insert(upgradeRollouts)
      .values({
        groupId: actor.groupId,
        facilityId: input.facilityId ?? null,
        release,
        canaryGatewayId: canary.id,
        gatewayIds: rest,
        requestedBy: actor.userId,
      })
      .returning({ id: upgradeRollouts.id });
    const rolloutId = row!.id;
    await notifyGateways(tx, { kind: 'upgrade', gatewayId: canary.id, upgradeId: rolloutId, release });
    await writeAudit(tx, ctx, {
      action: 'gateway.upgrade_rollout',
      targetType: input.facilityId !== undefined ? 'facility' : 'group',
      targetId: input.facilityId ?? actor.groupId,
      details: { rolloutId, toVersion: release.version, canaryGatewayId: canary.id, waiting: rest.length },
    });
    return { rolloutId, version: release.version, canaryGatewayId: canary.id, waiting: rest.length };
  });
}
