import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { notifyGateways } from '../db/notify.js';
import { gatewayStatus, gateways, upgradeRollouts } from '../db/schema/index.js';

/** A canary that has not come back on the new version within this long fails its rollout. */
export const CANARY_WAIT_MS = 10 * 60_000;

/**
 * Moves rollouts on: once a rollout's canary reports the new version and is online again, the rest
 * (still enrolled, with a live channel, still behind) are sent the release and the rollout is done;
 * a canary that is not back within CANARY_WAIT_MS (it rolled back, or is gone) fails it, and the rest
 * keep their version. Each rollout is claimed by its state in one UPDATE, so replicas never send twice.
 */
export async function advanceUpgradeRollouts({
  ctx,
}: {
  ctx: Ctx;
}): Promise<{ done: string[]; failed: string[] }> {
  const done: string[] = [];
  const failed: string[] = [];
  const open = await ctx.db
    .select({
      id: upgradeRollouts.id,
      release: upgradeRollouts.release,
      gatewayIds: upgradeRollouts.gatewayIds,
      createdAt: upgradeRollouts.createdAt,
      canaryVersion: gateways.version,
      canaryStatus: gatewayStatus.status,
    })
    .from(upgradeRollouts)
    .innerJoin(gateways, eq(gateways.id, upgradeRollouts.canaryGatewayId))
    .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, upgradeRollouts.canaryGatewayId))
    .where(eq(upgradeRollouts.state, 'canary'));
  for (const r of open) {
    const back = r.canaryVersion === r.release.version && r.canaryStatus === 'online';
    const late = Date.now() - r.createdAt.getTime() > CANARY_WAIT_MS;
    if (!back && !late) continue;
    await ctx.db.transaction(async (tx) => {
      const [claimed] = await tx
        .update(upgradeRollouts)
        .set(
          back
            ? { state: 'done', finishedAt: sql`now()` }
            : {
                state: 'failed',
                finishedAt: sql`now()`,
                reason: `the canary did not come back online on ${r.release.version} within ${CANARY_WAIT_MS / 60_000} minutes; the other gateways were left on their version`,
              },
        )
        .where(and(eq(upgradeRollouts.id, r.id), eq(upgradeRollouts.state, 'canary')))
        .returning({ id: upgradeRollouts.id });
      if (!claimed) return;
      if (!back) {
        failed.push(r.id);
        return;
      }
      const targets =
        r.gatewayIds.length === 0
          ? []
          : await tx
              .select({ id: gateways.id, version: gateways.version })
              .from(gateways)
              .innerJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
              // Only a live channel can take it; an offline gateway is upgraded later, one by one.
              .where(
                and(
                  inArray(gateways.id, r.gatewayIds),
                  isNull(gateways.revokedAt),
                  isNotNull(gatewayStatus.channelId),
                ),
              );
      for (const t of targets)
        if (t.version !== r.release.version)
          await notifyGateways(tx, { kind: 'upgrade', gatewayId: t.id, upgradeId: r.id, release: r.release });
      done.push(r.id);
    });
  }
  return { done, failed };
}
