import { FerryError, GATEWAY_NAME_MAX } from '@ferry/shared';
import { and, eq, like } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { gateways } from '../db/schema/index.js';

/** Room left for a " (99)" suffix when the default name is taken. */
const SUFFIX_ROOM = 6;

/** The name a gateway gets when nobody gave one: its facility's name and its host name. */
export function defaultGatewayName(facilityName: string, hostname: string): string {
  return `${facilityName} ${hostname}`.slice(0, GATEWAY_NAME_MAX - SUFFIX_ROOM).trim();
}

/**
 * The default name, or "name (2)", "(3)", … when another gateway of the facility holds it: two gateways
 * on one host stay distinguishable. Read in the enrolling transaction; a concurrent enrolment that takes
 * the same name meets the unique index and is refused whole.
 */
export async function freeDefaultName(
  tx: DbOrTx,
  facilityId: string,
  facilityName: string,
  hostname: string,
): Promise<string> {
  const base = defaultGatewayName(facilityName, hostname);
  const pattern = `${base.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await tx
    .select({ name: gateways.name })
    .from(gateways)
    .where(and(eq(gateways.facilityId, facilityId), like(gateways.name, pattern)));
  const taken = new Set(rows.map((r) => r.name));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base} (${n})`)) return `${base} (${n})`;
}

export function gatewayNameConflict(name: string): FerryError {
  return new FerryError(
    'resource.conflict',
    `another gateway of this facility is already named "${name}"; choose another name`,
  );
}
