import type { GatewaySettings } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { groups } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { appendConfigVersionsIfChanged, checkGatewaySettings } from './gateway-config.js';
import { requireAdmin } from './permissions.js';

export interface UpdateGatewaySettingsResult {
  settings: GatewaySettings;
  /** The config versions written, one per non-revoked gateway whose desired config changed. */
  configVersions: { gatewayId: string; version: number }[];
}

/**
 * Replaces the group's gateway settings. Every non-revoked gateway of the group whose merged config
 * changes gets a new config version, pushed to it when the transaction commits; the audit row names
 * how many.
 */
export async function updateGatewaySettings({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { settings: GatewaySettings };
}): Promise<UpdateGatewaySettingsResult> {
  const actor = requireAdmin(ctx.actor);
  const settings = checkGatewaySettings(input.settings, 'settings');
  return ctx.db.transaction(async (tx) => {
    // The group row lock orders concurrent replacements of the same group's settings.
    const [before] = await tx
      .select({ settings: groups.gatewaySettings })
      .from(groups)
      .where(eq(groups.id, actor.groupId))
      .for('update');
    await tx.update(groups).set({ gatewaySettings: settings }).where(eq(groups.id, actor.groupId));
    const configVersions = await appendConfigVersionsIfChanged(tx, { groupId: actor.groupId });
    await writeAudit(tx, ctx, {
      action: 'group.gateway_settings.update',
      targetType: 'group',
      targetId: actor.groupId,
      // A fleet-wide change can touch thousands of gateways: the count, not the list.
      details: { from: before?.settings ?? {}, to: settings, configVersions: configVersions.length },
    });
    return { settings, configVersions };
  });
}
