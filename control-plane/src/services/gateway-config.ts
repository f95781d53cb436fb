import { isDeepStrictEqual } from 'node:util';
import {
  FerryError,
  type GatewayDesiredConfig,
  type GatewaySettings,
  gatewaySettingsSchema,
  mergeGatewayConfig,
} from '@ferry/shared';
import { and, asc, desc, eq, inArray, isNull, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { notifyGateways } from '../db/notify.js';
import { configVersions, facilities, gateways, groups } from '../db/schema/index.js';

/** The desired config the control plane holds for a gateway; the fields are the agent's agent.json fields. */
export type GatewayConfig = GatewayDesiredConfig;

/**
 * The desired config of a gateway serving `facility`: the defaults, then the group's settings, then the
 * facility's own, plus the facility's AE title and stable period.
 */
export function buildGatewayConfig(
  facility: { aeTitle: string; stablePeriodSeconds: number; gatewaySettings?: GatewaySettings | null },
  groupSettings: GatewaySettings | null = {},
): GatewayConfig {
  return mergeGatewayConfig(facility, groupSettings ?? {}, facility.gatewaySettings ?? {});
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

/** Rows per multi-row insert: 3 parameters each, far below PostgreSQL's 65,535. */
const INSERT_BATCH = 5000;

/**
 * Rebuilds the desired config of every non-revoked gateway in `scope` and appends a version for each
 * whose config differs from its latest one, then tells the replicas (delivered on commit). Call it
 * inside the transaction that changed the settings, after the change. Three statements whatever the
 * fleet size: the gateways (locked, in id order so concurrent callers queue rather than deadlock),
 * their latest versions, one insert.
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

  const targets = await tx
    .select({
      id: gateways.id,
      aeTitle: facilities.aeTitle,
      stablePeriodSeconds: facilities.stablePeriodSeconds,
      facilitySettings: facilities.gatewaySettings,
      groupSettings: groups.gatewaySettings,
    })
    .from(gateways)
    .innerJoin(facilities, eq(facilities.id, gateways.facilityId))
    .innerJoin(groups, eq(groups.id, gateways.groupId))
    .where(and(where, isNull(gateways.revokedAt)))
    .orderBy(asc(gateways.id))
    .for('update', { of: gateways });
  if (targets.length === 0) return [];

  const latest = new Map<string, { version: number; config: Record<string, unknown> }>();
  const ids = targets.map((t) => t.id);
  for (let i = 0; i < ids.length; i += INSERT_BATCH) {
    const rows = await tx
      .selectDistinctOn([configVersions.gatewayId], {
        gatewayId: configVersions.gatewayId,
        version: configVersions.version,
        config: configVersions.config,
      })
      .from(configVersions)
      .where(inArray(configVersions.gatewayId, ids.slice(i, i + INSERT_BATCH)))
      .orderBy(configVersions.gatewayId, desc(configVersions.version));
    for (const r of rows) latest.set(r.gatewayId, { version: r.version, config: r.config });
  }

  const appended: { gatewayId: string; version: number; config: GatewayConfig }[] = [];
  for (const t of targets) {
    const config = buildGatewayConfig(
      { aeTitle: t.aeTitle, stablePeriodSeconds: t.stablePeriodSeconds, gatewaySettings: t.facilitySettings },
      t.groupSettings,
    );
    const prev = latest.get(t.id);
    // jsonb does not keep key order; isDeepStrictEqual ignores it.
    if (prev && isDeepStrictEqual(prev.config, config)) continue;
    appended.push({ gatewayId: t.id, version: (prev?.version ?? 0) + 1, config });
  }
  for (let i = 0; i < appended.length; i += INSERT_BATCH) {
    await tx.insert(configVersions).values(appended.slice(i, i + INSERT_BATCH));
  }
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
