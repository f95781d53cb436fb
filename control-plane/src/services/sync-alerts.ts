import { FerryError } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import type { DbOrTx } from '../db/client.js';
import { rowsOf } from './enqueue-webhook-deliveries.js';
import { GATEWAY_OFFLINE_CODE, offlineCondition } from './offline-condition.js';

/** A cleared condition must stay gone this long before its episode closes and recovery is notified. */
export const ALERT_QUIET_SECONDS = 120;
/** Any fixed number: the transaction-scoped advisory lock that lets one replica sync at a time. */
const SYNC_LOCK = 0x6665_7279;

interface Current {
  groupId: string;
  gatewayId: string;
  code: string;
  severity: 'warning' | 'error';
  message: string;
  since: Date;
}

interface Unclosed {
  id: string;
  group_id: string;
  gateway_id: string;
  code: string;
  severity: string;
  message: string;
  cleared_at: Date | string | null;
}

interface LiveGateway {
  gateway_id: string;
  group_id: string;
  status: string;
  status_since: Date | string;
  last_heartbeat_at: Date | string | null;
  conditions: unknown;
}

/**
 * The conditions that are alerts now: `gateway.offline` for a gateway that has connected once and is
 * offline, else its reported warnings and errors. `frozen` holds the offline gateways: their other
 * conditions are as last reported, neither new nor gone, so their episodes are left as they are.
 */
async function currentConditions(
  tx: DbOrTx,
): Promise<{ current: Map<string, Current>; live: Set<string>; frozen: Set<string> }> {
  const rows = rowsOf<LiveGateway>(
    await tx.execute(sql`
      select s.gateway_id, g.group_id, s.status, s.status_since, s.last_heartbeat_at, s.health->'conditions' as conditions
      from gateway_status s join gateways g on g.id = s.gateway_id
      where g.revoked_at is null`),
  );
  const current = new Map<string, Current>();
  const live = new Set<string>();
  const frozen = new Set<string>();
  for (const r of rows) {
    live.add(r.gateway_id);
    const base = { groupId: r.group_id, gatewayId: r.gateway_id };
    if (r.status === 'offline') {
      frozen.add(r.gateway_id);
      const c = offlineCondition(
        new Date(r.status_since),
        r.last_heartbeat_at ? new Date(r.last_heartbeat_at) : null,
      );
      current.set(`${r.gateway_id}|${c.code}`, {
        ...base,
        ...c,
        severity: 'error',
        since: new Date(c.since),
      });
      continue;
    }
    const list = (typeof r.conditions === 'string' ? JSON.parse(r.conditions) : r.conditions) as
      | { code: string; severity: string; message: string; since: string }[]
      | null;
    for (const c of list ?? []) {
      if (c.severity !== 'warning' && c.severity !== 'error') continue;
      const since = new Date(c.since);
      current.set(`${r.gateway_id}|${c.code}`, {
        ...base,
        code: c.code,
        severity: c.severity,
        message: c.message,
        since: Number.isNaN(since.getTime()) ? new Date() : since,
      });
    }
  }
  return { current, live, frozen };
}

/**
 * Brings the alert episodes in line with the gateways' conditions and fills the notification outbox:
 * an `opened` notice per channel when an episode opens, a `recovered` one when it closes (to channels
 * that were told it opened). One replica at a time (advisory lock; the others skip this tick), all in
 * one transaction, so a crash leaves either nothing or the episode with its notices: a restart never
 * notifies a change twice.
 */
export async function syncAlerts({
  ctx,
  input = {},
}: {
  ctx: Ctx;
  input?: { quietSeconds?: number };
}): Promise<{ opened: number; closed: number; skipped: boolean }> {
  if (ctx.actor.kind !== 'system') throw new FerryError('auth.forbidden', 'only the system syncs alerts');
  const quiet = input.quietSeconds ?? ALERT_QUIET_SECONDS;
  return ctx.db.transaction(async (tx) => {
    const [lock] = rowsOf<{ ok: boolean }>(
      await tx.execute(sql`select pg_try_advisory_xact_lock(${SYNC_LOCK}) as ok`),
    );
    if (!lock?.ok) return { opened: 0, closed: 0, skipped: true };
    const { current, live, frozen } = await currentConditions(tx);
    const unclosed = rowsOf<Unclosed>(
      await tx.execute(
        sql`select id, group_id, gateway_id, code, severity, message, cleared_at from alerts where closed_at is null`,
      ),
    );
    const seen = new Set<string>();
    let opened = 0;
    let closed = 0;
    for (const a of unclosed) {
      const key = `${a.gateway_id}|${a.code}`;
      const now = current.get(key);
      if (now) {
        seen.add(key);
        if (a.cleared_at !== null || a.severity !== now.severity || a.message !== now.message)
          await tx.execute(
            sql`update alerts set cleared_at = null, severity = ${now.severity}, message = ${now.message} where id = ${a.id}`,
          );
        continue;
      }
      if (!live.has(a.gateway_id)) {
        // Revoked: its silence is expected, not news; the episode ends without a notice.
        await tx.execute(
          sql`update alerts set cleared_at = coalesce(cleared_at, now()), closed_at = now() where id = ${a.id}`,
        );
        continue;
      }
      if (frozen.has(a.gateway_id) && a.code !== GATEWAY_OFFLINE_CODE) continue;
      if (a.cleared_at === null) {
        await tx.execute(sql`update alerts set cleared_at = now() where id = ${a.id}`);
        continue;
      }
      const done = rowsOf(
        await tx.execute(sql`
          update alerts set closed_at = now()
          where id = ${a.id} and cleared_at <= now() - make_interval(secs => ${quiet})
          returning id`),
      );
      if (done.length === 0) continue;
      closed++;
      await tx.execute(sql`
        insert into alert_notifications (channel_id, alert_id, kind)
        select n.channel_id, n.alert_id, 'recovered' from alert_notifications n
        where n.alert_id = ${a.id} and n.kind = 'opened'
        on conflict (channel_id, alert_id, kind) do nothing`);
    }
    for (const [key, c] of current) {
      if (seen.has(key)) continue;
      const [row] = rowsOf<{ id: string }>(
        await tx.execute(sql`
          insert into alerts (group_id, gateway_id, code, severity, message, since)
          values (${c.groupId}, ${c.gatewayId}, ${c.code}, ${c.severity}, ${c.message}, ${c.since.toISOString()})
          on conflict do nothing
          returning id`),
      );
      if (!row) continue;
      opened++;
      await tx.execute(sql`
        insert into alert_notifications (channel_id, alert_id, kind)
        select id, ${row.id}, 'opened' from notification_channels where group_id = ${c.groupId}
        on conflict (channel_id, alert_id, kind) do nothing`);
    }
    return { opened, closed, skipped: false };
  });
}
