import { FerryError } from '@ferry/shared';
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { configVersions, facilities, gateways } from '../schema/index.js';

/** A gateway as the fleet view shows it: its facility and its latest desired config version. */
export interface GatewayView {
  id: string;
  facility: { id: string; name: string; aeTitle: string };
  hostname: string;
  version: string;
  enrolledAt: Date;
  lastSeenAt: Date | null;
  revokedAt: Date | null;
  configVersion: number | null;
}

/** The gateways of `groupId` (optionally narrowed by `where`), newest enrolment first. */
export async function selectGatewayViews(db: DbOrTx, groupId: string, where?: SQL): Promise<GatewayView[]> {
  const latestVersion = sql<
    number | null
  >`(select max(${configVersions.version}) from ${configVersions} where ${configVersions.gatewayId} = ${gateways.id})`;
  const rows = await db
    .select({
      id: gateways.id,
      facilityId: facilities.id,
      facilityName: facilities.name,
      facilityAeTitle: facilities.aeTitle,
      hostname: gateways.hostname,
      version: gateways.version,
      enrolledAt: gateways.enrolledAt,
      lastSeenAt: gateways.lastSeenAt,
      revokedAt: gateways.revokedAt,
      configVersion: latestVersion,
    })
    .from(gateways)
    .innerJoin(facilities, eq(facilities.id, gateways.facilityId))
    .where(and(eq(gateways.groupId, groupId), where))
    .orderBy(desc(gateways.enrolledAt), gateways.id);
  return rows.map((r) => ({
    id: r.id,
    facility: { id: r.facilityId, name: r.facilityName, aeTitle: r.facilityAeTitle },
    hostname: r.hostname,
    version: r.version,
    enrolledAt: r.enrolledAt,
    lastSeenAt: r.lastSeenAt,
    revokedAt: r.revokedAt,
    configVersion: r.configVersion === null ? null : Number(r.configVersion),
  }));
}

/** One gateway of `groupId`, or a 404 that does not tell another group's gateway apart. */
export async function getGatewayViewOr404(db: DbOrTx, groupId: string, id: string): Promise<GatewayView> {
  const [view] = await selectGatewayViews(db, groupId, eq(gateways.id, id));
  if (!view) throw new FerryError('resource.not_found', `no gateway ${id} in your group`);
  return view;
}

/** The latest desired config of a gateway, or null before its first version. */
export async function latestGatewayConfig(
  db: DbOrTx,
  gatewayId: string,
): Promise<{ version: number; config: Record<string, unknown> } | null> {
  const [row] = await db
    .select({ version: configVersions.version, config: configVersions.config })
    .from(configVersions)
    .where(eq(configVersions.gatewayId, gatewayId))
    .orderBy(desc(configVersions.version))
    .limit(1);
  return row ?? null;
}
