import { type Condition, FerryError } from '@ferry/shared';
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { offlineCondition } from '../../services/offline-condition.js';
import type { DbOrTx } from '../client.js';
import { configVersions, facilities, type GatewayStatus, gatewayStatus, gateways } from '../schema/index.js';
import { rowsOf } from './gateway-channel.js';

/**
 * A gateway as the fleet view shows it: its facility, its latest desired config version and its live
 * state. A gateway that never connected has no gateway_status row and shows as offline since its
 * enrolment. A revoked gateway keeps the status its channel left behind (offline once the channel
 * closes); `revokedAt` is what says it is revoked.
 */
export interface GatewayView {
  id: string;
  facility: { id: string; name: string; aeTitle: string };
  /** Its display name, unique within its facility. */
  name: string;
  hostname: string;
  version: string;
  enrolledAt: Date;
  /**
   * The last time the control plane heard from the gateway by any means: a heartbeat or an
   * authenticated request. The one definition of "last seen": never older than `lastHeartbeatAt`.
   */
  lastSeenAt: Date | null;
  revokedAt: Date | null;
  configVersion: number | null;
  status: GatewayStatus;
  /** Since when `status` holds; the enrolment time for a gateway that never connected. */
  statusSince: Date;
  lastHeartbeatAt: Date | null;
  /** The config version the gateway last reported in force; null before its first heartbeat. */
  appliedConfigVersion: number | null;
  /** The conditions of the latest health report ([] without one). */
  conditions: Condition[];
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
      name: gateways.name,
      hostname: gateways.hostname,
      version: gateways.version,
      enrolledAt: gateways.enrolledAt,
      // greatest() skips nulls: a gateway heard only over HTTP, or only over its channel, still counts.
      lastSeenAt: sql<
        string | Date | null
      >`greatest(${gateways.lastSeenAt}, ${gatewayStatus.lastHeartbeatAt})`,
      revokedAt: gateways.revokedAt,
      configVersion: latestVersion,
      status: gatewayStatus.status,
      statusSince: gatewayStatus.statusSince,
      lastHeartbeatAt: gatewayStatus.lastHeartbeatAt,
      appliedConfigVersion: gatewayStatus.appliedConfigVersion,
      // Only the conditions: a full health report per gateway is too much for a fleet list.
      conditions: sql<Condition[] | null>`${gatewayStatus.health} -> 'conditions'`,
    })
    .from(gateways)
    .innerJoin(facilities, eq(facilities.id, gateways.facilityId))
    .leftJoin(gatewayStatus, eq(gatewayStatus.gatewayId, gateways.id))
    .where(and(eq(gateways.groupId, groupId), where))
    .orderBy(desc(gateways.enrolledAt), gateways.id);
  return rows.map((r) => ({
    id: r.id,
    facility: { id: r.facilityId, name: r.facilityName, aeTitle: r.facilityAeTitle },
    name: r.name,
    hostname: r.hostname,
    version: r.version,
    enrolledAt: r.enrolledAt,
    lastSeenAt: r.lastSeenAt === null ? null : new Date(r.lastSeenAt),
    revokedAt: r.revokedAt,
    configVersion: r.configVersion === null ? null : Number(r.configVersion),
    status: r.status ?? 'offline',
    statusSince: r.statusSince ?? r.enrolledAt,
    lastHeartbeatAt: r.lastHeartbeatAt,
    appliedConfigVersion: r.appliedConfigVersion,
    // A gateway that connected once and went offline carries gateway.offline first; what it last
    // reported stays listed after it, as last known.
    conditions: [
      ...(r.status === 'offline' && r.statusSince && !r.revokedAt
        ? [offlineCondition(r.statusSince, r.lastHeartbeatAt)]
        : []),
      ...(parseJsonb<Condition[]>(r.conditions) ?? []),
    ],
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

/** A jsonb value from a raw `sql` selection: node-postgres parses it, PGlite may hand back text. */
function parseJsonb<T>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

/** What recordAgentTokenUse found, for the token checks that decide. */
export interface AgentTokenUse {
  /** False when no gateway has that id (deleted or never enrolled). */
  found: boolean;
  revoked: boolean;
  groupId: string;
  facilityId: string;
  /** Which of the gateway's registered keys `publicKey` is; null when neither (rotated away). */
  signedWith: 'current' | 'previous' | null;
  /** True when the jti was recorded now; false for a replay (or when nothing was recorded). */
  recorded: boolean;
}

/**
 * An agent request's whole authentication write in one statement (one round trip, one snapshot):
 * reads the gateway, records the token's jti only if the gateway exists, is not revoked and still
 * has `publicKey` registered (a replay finds its jti taken: `recorded` false), and only then stamps
 * `last_seen_at` (at most once per `lastSeenResolutionMs`: it is a display stamp) and, when the
 * token was signed with the current key, drops the previous one. The retirement is guarded by the
 * row as updated, so a rotation that committed meanwhile keeps its own previous key.
 */
export async function recordAgentTokenUse(
  db: DbOrTx,
  use: {
    gatewayId: string;
    publicKey: unknown;
    jti: string;
    expiresAt: Date;
    now: Date;
    lastSeenResolutionMs: number;
  },
): Promise<AgentTokenUse> {
  const key = JSON.stringify(use.publicKey);
  const now = use.now.toISOString();
  const staleBefore = new Date(use.now.getTime() - use.lastSeenResolutionMs).toISOString();
  const result = await db.execute(sql`
    with gw as (
      select id, group_id, facility_id, revoked_at is not null as revoked,
        case when public_key = ${key}::jsonb then 'current'
             when previous_public_key = ${key}::jsonb then 'previous' end as signed_with
      from gateways where id = ${use.gatewayId}
    ), used as (
      insert into agent_token_uses (jti, gateway_id, expires_at)
      select ${use.jti}, id, ${use.expiresAt.toISOString()}::timestamptz from gw
      where not revoked and signed_with is not null
      on conflict do nothing
      returning jti
    ), seen as (
      update gateways g set
        last_seen_at = case when g.last_seen_at is null or g.last_seen_at < ${staleBefore}::timestamptz
          then ${now}::timestamptz else g.last_seen_at end,
        previous_public_key = case when g.public_key = ${key}::jsonb then null else g.previous_public_key end
      where g.id = ${use.gatewayId} and exists (select 1 from used)
        and (g.last_seen_at is null or g.last_seen_at < ${staleBefore}::timestamptz
          or (g.public_key = ${key}::jsonb and g.previous_public_key is not null))
      returning g.id
    )
    select gw.group_id, gw.facility_id, gw.revoked, gw.signed_with,
      exists (select 1 from used) as recorded
    from gw`);
  const [row] = rowsOf<{
    group_id: string;
    facility_id: string;
    revoked: boolean;
    signed_with: 'current' | 'previous' | null;
    recorded: boolean;
  }>(result);
  if (!row)
    return { found: false, revoked: false, groupId: '', facilityId: '', signedWith: null, recorded: false };
  return {
    found: true,
    revoked: row.revoked,
    groupId: row.group_id,
    facilityId: row.facility_id,
    signedWith: row.signed_with,
    recorded: row.recorded,
  };
}
