import { randomUUID } from 'node:crypto';
import type { ReleaseDescriptor } from '@ferry/shared';
import type { Ctx } from '../context.js';
import { notifyGateways } from '../db/notify.js';
import { writeAudit } from './audit.js';
import { requireLiveGateway } from './live-gateway.js';
import { requireAdmin } from './permissions.js';

/**
 * Tells a gateway of the admin's group to install `release` (the one this control plane serves) and
 * restart into it. The replicas are told on commit; whichever holds the gateway's channel sends it. A
 * gateway without a live channel cannot be asked (409 gateway.offline); one already running the
 * version is left alone (the answer says so). The gateway's supervisor rolls back by itself when the
 * new version does not come back healthy; the outcome shows as the version it reports next.
 */
export async function upgradeGateway({
  ctx,
  input,
}: {
  ctx: Ctx;
  /** The release, read only once the caller may upgrade this gateway (a reader learns nothing of it). */
  input: { gatewayId: string; release: () => Promise<ReleaseDescriptor> };
}): Promise<{ upgradeId: string | undefined; fromVersion: string; toVersion: string }> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const gw = await requireLiveGateway(tx, actor.groupId, input.gatewayId, 'upgrade it when it is online');
    const release = await input.release();
    const toVersion = release.version;
    // The version in its latest heartbeat, else the one it said hello with.
    const fromVersion = gw.health?.agentVersion ?? gw.version;
    if (fromVersion === toVersion) return { upgradeId: undefined, fromVersion, toVersion };
    const upgradeId = randomUUID();
    await notifyGateways(tx, { kind: 'upgrade', gatewayId: gw.id, upgradeId, release });
    await writeAudit(tx, ctx, {
      action: 'gateway.upgrade',
      targetType: 'gateway',
      targetId: gw.id,
      details: { upgradeId, fromVersion, toVersion, sha256: release.sha256 },
    });
    return { upgradeId, fromVersion, toVersion };
  });
}
