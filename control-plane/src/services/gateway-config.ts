import { isDeepStrictEqual } from 'node:util';
import {
  activeAeTitleAliases,
  type FacilityGatewayFields,
  FerryError,
  type GatewayDesiredConfig,
  type GatewaySettings,
  gatewaySettingsSchema,
  mergeGatewayConfig,
  PUSHED_SETTINGS,
} from '@ferry/shared';
import { and, asc, desc, eq, inArray, isNull, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { notifyGateways } from '../db/notify.js';
import { jsonRows } from '../db/queries/json-rows.js';
import { configVersions, facilities, gateways, groups } from '../db/schema/index.js';

/** The desired config the control plane holds for a gateway; the fields are the agent's agent.json fields. */
export type GatewayConfig = GatewayDesiredConfig;

/**
 * The desired config of a gateway serving `facility`: the defaults, then the group's settings, then the
 * facility's own, plus the facility's AE title, its unexpired aliases and stable period.
 */
export function buildGatewayConfig(
  facility: FacilityGatewayFields & { gatewaySettings?: GatewaySettings | null },
  groupSettings: GatewaySettings | null = {},
): GatewayConfig {
  const own = { ...facility, aeTitleAliases: activeAeTitleAliases(facility.aeTitleAliases) };
  return mergeGatewayConfig(own, groupSettings ?? {}, facility.gatewaySettings ?? {});
}

/**
 * Records `config` as the gateway's next config version inside the caller's transaction and returns
 * its number (1 for the first). The gateway row is locked first, so concurrent appends for one
 * gateway take turns instead of colliding on the version.
 */
export async function appendConfigVersion(
  tx: DbOrTx,
  gatewayId: string,
  config: GatewayConfig,
): Promise<number> {
  await tx.select({ id: gateways.id }).from(gateways).where(eq(gateways.id, gatewayId)).for('update');
  const [latest] = await tx
    .select({ version: configVersions.version })
    .from(configVersions)
    .where(eq(configVersions.gatewayId, gatewayId))
    .orderBy(desc(configVersions.version))
    .limit(1);
  const version = (latest?.version ?? 0) + 1;
  await tx.insert(configVersions).values({ gatewayId, version, config });
  return version;
}

/** Which gateways a settings change can affect. */
export type ConfigScope = { groupId: string } | { facilityId: string } | { gatewayIds: string[] };

/** A jsonb value from a raw `sql` selection (a driver may hand it back as text). */
function parseJsonb(v: unknown): unknown {
  return typeof v === 'string' ? JSON.parse(v) : v;
}

/**
 * Rebuilds the desired config of every non-revoked gateway in `scope` and appends a version for each
 * whose config differs from its latest one, then tells the replicas (delivered on commit). Call it
 * inside the transaction that changed the settings, after the change. Three statements whatever the
 * fleet size: lock the gateways (in id order, so concurrent callers queue rather than deadlock), read
 * them with their latest versions, one insert with the rows as a single jsonb parameter.
 */
export async function appendConfigVersionsIfChanged(
  tx: DbOrTx,
  scope: ConfigScope,
): Promise<{ gatewayId: string; version: number }[]> {
  let where: SQL;
  if ('groupId' in scope) where = eq(gateways.groupId, scope.groupId);
  else if ('facilityId' in scope) where = eq(gateways.facilityId, scope.facilityId);
  else if (scope.gatewayIds.length === 0) return [];
  else where = inArray(gateways.id, scope.gatewayIds);

  const scoped = and(where, isNull(gateways.revokedAt));
  // Lock first, read after: a statement that waited for a lock still sees its own start snapshot in
  // its subqueries and joins, so a concurrent change committed meanwhile (another facility's settings,
  // a version just appended) would be missed. The read below is a new statement with a new snapshot.
  await tx.select({ id: gateways.id }).from(gateways).where(scoped).orderBy(asc(gateways.id)).for('update');
  // The latest version comes along as two correlated lookups on (gateway_id, version): no id list
  // goes back and forth, whatever the fleet size. FOR UPDATE again only for a gateway enrolled
  // between the two statements; the others are already ours.
  const latestOf = (column: SQL) =>
    sql`(select ${column} from ${configVersions} where ${configVersions.gatewayId} = ${gateways.id} order by ${configVersions.version} desc limit 1)`;
  const targets = await tx
    .select({
      id: gateways.id,
      aeTitle: facilities.aeTitle,
      aeTitleAliases: facilities.aeTitleAliases,
      stablePeriodSeconds: facilities.stablePeriodSeconds,
      facilitySettings: facilities.gatewaySettings,
      groupSettings: groups.gatewaySettings,
      latestVersion: latestOf(sql`${configVersions.version}`).mapWith(Number),
      latestConfig: latestOf(sql`${configVersions.config}`),
    })
    .from(gateways)
    .innerJoin(facilities, eq(facilities.id, gateways.facilityId))
    .innerJoin(groups, eq(groups.id, gateways.groupId))
    .where(scoped)
    .orderBy(asc(gateways.id))
    .for('update', { of: gateways });
  if (targets.length === 0) return [];

  const appended: { gatewayId: string; version: number; config: GatewayConfig }[] = [];
  for (const t of targets) {
    const config = buildGatewayConfig(
      {
        aeTitle: t.aeTitle,
        aeTitleAliases: t.aeTitleAliases,
        stablePeriodSeconds: t.stablePeriodSeconds,
        gatewaySettings: t.facilitySettings,
      },
      t.groupSettings,
    );
    const prevVersion = t.latestVersion ?? 0;
    // jsonb does not keep key order; isDeepStrictEqual ignores it.
    if (prevVersion > 0 && isDeepStrictEqual(parseJsonb(t.latestConfig), config)) continue;
    appended.push({ gatewayId: t.id, version: prevVersion + 1, config });
  }
  if (appended.length > 0) await tx.insert(configVersions).select(jsonRows(configVersions, appended));
  if (appended.length > 0) {
    await notifyGateways(tx, { kind: 'config', gatewayIds: appended.map((a) => a.gatewayId) });
  }
  return appended.map(({ gatewayId, version }) => ({ gatewayId, version }));
}

/**
 * `value` as gateway settings, or a request.invalid error naming the field (`prefix.port: …`). Routes
 * validate too; services check again because they are also called from elsewhere.
 */
export function checkGatewaySettings(value: unknown, prefix: string): GatewaySettings {
  const parsed = gatewaySettingsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues
    .map((i) => `${[prefix, ...i.path.map(String)].join('.')}: ${i.message}`)
    .join('; ');
  throw new FerryError('request.invalid', detail);
}

/** One reason `gatewaySettingsSchema` refuses a value: the setting's name and the words the API says. */
export interface GatewaySettingProblem {
  /** The PUSHED_SETTINGS name (`port`, `upload.parallelism`), or '' for the value as a whole. */
  setting: string;
  /** The schema's message, after the path inside the setting when there is one (`0.port: …`). */
  message: string;
}

/** Why `gatewaySettingsSchema` refuses `value` (none when it is valid), per setting, in its own words. */
export function gatewaySettingsProblems(value: unknown): GatewaySettingProblem[] {
  const parsed = gatewaySettingsSchema.safeParse(value);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => {
    const path = issue.path.map(String);
    // A group's field (`upload.parallelism`) is one setting, named with its group.
    const depth = path.length > 1 && Object.hasOwn(PUSHED_SETTINGS, `${path[0]}.${path[1]}`) ? 2 : 1;
    const inner = path.slice(depth);
    return {
      setting: path.slice(0, depth).join('.'),
      message: inner.length > 0 ? `${inner.join('.')}: ${issue.message}` : issue.message,
    };
  });
}
