import type { GatewaySettings } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { groups } from '../db/schema/index.js';
import { gatewaySettingsFor } from './gateway-settings-view.js';
import { requireUser } from './permissions.js';

/** The caller's group's gateway settings: the defaults its facilities' overrides start from. */
export async function getGatewaySettings({
  ctx,
}: {
  ctx: Ctx;
  input?: undefined;
}): Promise<{ settings: GatewaySettings }> {
  const actor = requireUser(ctx.actor);
  const [row] = await ctx.db
    .select({ settings: groups.gatewaySettings })
    .from(groups)
    .where(eq(groups.id, actor.groupId));
  return { settings: gatewaySettingsFor(actor, row?.settings ?? {}) };
}
