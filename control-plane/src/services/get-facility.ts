import type { Ctx } from '../context.js';
import { type FacilityRow, getFacilityOr404 } from '../db/queries/facilities.js';
import { gatewaySettingsFor } from './gateway-settings-view.js';
import { requireUser } from './permissions.js';

/** One facility of the caller's group; another group's facility is not found. Readers may read. */
export async function getFacility({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<FacilityRow> {
  const actor = requireUser(ctx.actor);
  const row = await getFacilityOr404(ctx.db, actor.groupId, input.id);
  return { ...row, gatewaySettings: gatewaySettingsFor(actor, row.gatewaySettings) };
}
