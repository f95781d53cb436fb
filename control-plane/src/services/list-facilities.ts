import { asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import type { FacilityRow } from '../db/queries/facilities.js';
import { facilities } from '../db/schema/index.js';
import { gatewaySettingsFor } from './gateway-settings-view.js';
import { requireUser } from './permissions.js';

export type { FacilityRow };

/** The facilities of the caller's group, by name. Readers may list. */
export async function listFacilities({ ctx }: { ctx: Ctx; input?: undefined }): Promise<FacilityRow[]> {
  const actor = requireUser(ctx.actor);
  const rows = await ctx.db
    .select()
    .from(facilities)
    .where(eq(facilities.groupId, actor.groupId))
    .orderBy(asc(facilities.name), asc(facilities.id));
  return rows.map((row) => ({ ...row, gatewaySettings: gatewaySettingsFor(actor, row.gatewaySettings) }));
}
