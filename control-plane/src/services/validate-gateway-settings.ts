import type { Ctx } from '../context.js';
import { getFacilityOr404 } from '../db/queries/facilities.js';
import { type GatewaySettingProblem, gatewaySettingsProblems } from './gateway-config.js';
import { requireAdmin } from './permissions.js';

/**
 * A dry run of saving gateway settings (the group's, or `facilityId`'s overrides): what the save would
 * refuse, per setting, in the words the save itself uses, since both run gatewaySettingsSchema. Admins
 * only, like the save; a facility of another group is a 404, like the save. Changes nothing.
 */
export async function validateGatewaySettings({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { settings: unknown; facilityId?: string | undefined };
}): Promise<{ problems: GatewaySettingProblem[] }> {
  const actor = requireAdmin(ctx.actor);
  if (input.facilityId !== undefined) await getFacilityOr404(ctx.db, actor.groupId, input.facilityId);
  return { problems: gatewaySettingsProblems(input.settings) };
}
