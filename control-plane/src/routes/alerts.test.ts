import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import {
  condition,
  healthReport,
  seedGatewayStatus,
} from '../../../testkit/control-plane/seed-gateway-status.js';
import { systemCtx } from '../context.js';
import { alerts, auditLog } from '../db/schema/index.js';
import { syncAlerts } from '../services/sync-alerts.js';

interface AlertBody {
  id: string;
  gateway: { id: string; hostname: string };
  code: string;
  severity: string;
  since: string;
  acknowledged: { at: string; by: string | null } | null;
}

/** An open gateway.offline alert of `group`, made the way the job makes it. */
async function offlineAlertOf(t: TestApp, group: SeededGroup): Promise<{ alertId: string }> {
  const gw = await enrollTestGateway(t, group);
  await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'offline' });
  await syncAlerts({ ctx: systemCtx(t.database.db, pino({ level: 'silent' }), 'test'), input: {} });
  const [row] = await t.database.db
    .select({ id: alerts.id })
    .from(alerts)
    .where(eq(alerts.gatewayId, gw.gatewayId));
  return { alertId: row!.id };
}

describe.each(BACKENDS)('alerts routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Alerts routes');
    other = await t.seedGroup('Other alerts group');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists gateway.offline and reported warnings newest first; the gateway API carries the condition; ack is audited once', async () => {
    const sys = systemCtx(t.database.db, pino({ level: 'silent' }), 'test');
    const older = await enrollTestGateway(t, g, { hostname: 'older-gw' });
    await seedGatewayStatus(t.database.db, older.gatewayId, {
      status: 'degraded',
      health: healthReport({
        conditions: [
          { ...condition('spool.disk_low', 'warning'), since: new Date(Date.now() - 60_000).toISOString() },
        ],
      }),
    });
    const off = await enrollTestGateway(t, g, { hostname: 'gone-gw' });
    await seedGatewayStatus(t.database.db, off.gatewayId, { status: 'offline', statusSince: new Date() });
    await syncAlerts({ ctx: sys, input: {} });

    const list = await t.request<{ alerts: AlertBody[] }>('GET', '/api/v1/alerts', { token: g.reader.token });
    expect(list.status, list.text).toBe(200);
    expect(list.body.alerts.map((a) => [a.gateway.hostname, a.code, a.severity])).toEqual([
      ['gone-gw', 'gateway.offline', 'error'],
      ['older-gw', 'spool.disk_low', 'warning'],
    ]);
    const gwRes = await t.request<{ status: string; conditions: { code: string; severity: string }[] }>(
      'GET',
      `/api/v1/gateways/${off.gatewayId}`,
      { token: g.admin.token },
    );
    expect(gwRes.body.conditions[0]).toMatchObject({ code: 'gateway.offline', severity: 'error' });
    const summary = await t.request<{ openAlerts: unknown }>('GET', '/api/v1/fleet/summary', {
      token: g.reader.token,
    });
    expect(summary.body.openAlerts).toEqual({ errors: 1, warnings: 1 });
    const theirs = await t.request<{ alerts: AlertBody[] }>('GET', '/api/v1/alerts', {
      token: other.admin.token,
    });
    expect(theirs.body.alerts).toEqual([]);

    const id = list.body.alerts[0]!.id;
    expectError(
      await t.request('POST', `/api/v1/alerts/${id}/acknowledge`, { token: g.reader.token }),
      403,
      'auth.forbidden',
    );
    expectError(
      await t.request('POST', `/api/v1/alerts/${id}/acknowledge`, { token: other.admin.token }),
      404,
      'resource.not_found',
    );
    const ack = await t.request<{ acknowledgedAt: string }>('POST', `/api/v1/alerts/${id}/acknowledge`, {
      token: g.admin.token,
    });
    expect(ack.status, ack.text).toBe(200);
    const again = await t.request<{ acknowledgedAt: string }>('POST', `/api/v1/alerts/${id}/acknowledge`, {
      token: g.admin.token,
    });
    expect(again.body.acknowledgedAt).toBe(ack.body.acknowledgedAt);
    const after = await t.request<{ alerts: AlertBody[] }>('GET', '/api/v1/alerts', { token: g.admin.token });
    expect(after.body.alerts[0]?.acknowledged).toEqual({ at: ack.body.acknowledgedAt, by: g.admin.email });
    const audits = await t.database.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'alert.acknowledge'));
    expect(audits.map((a) => [a.targetId, a.actorId])).toEqual([[off.gatewayId, g.admin.id]]);

    // Back online: the alert clears and leaves the list; the gateway no longer carries the condition.
    await seedGatewayStatus(t.database.db, off.gatewayId, { status: 'online', health: healthReport() });
    await syncAlerts({ ctx: sys, input: {} });
    const cleared = await t.request<{ alerts: AlertBody[] }>('GET', '/api/v1/alerts', {
      token: g.admin.token,
    });
    expect(cleared.body.alerts.map((a) => a.code)).toEqual(['spool.disk_low']);
    expectError(
      await t.request('POST', `/api/v1/alerts/${unknownId()}/acknowledge`, { token: g.admin.token }),
      404,
      'resource.not_found',
    );
  });

  it('adds e-mail and chat channels (admins); the chat URL is sealed and listed by origin only', async () => {
    const email = await t.request<{ id: string; label: string }>('POST', '/api/v1/notification-channels', {
      token: g.admin.token,
      body: { kind: 'email', target: 'PACS-Team@Example.org' },
    });
    expect(email.status, email.text).toBe(201);
    expect(email.body.label).toBe('pacs-team@example.org');
    const chat = await t.request<{ id: string; label: string }>('POST', '/api/v1/notification-channels', {
      token: g.admin.token,
      body: { kind: 'chat', target: 'https://hooks.slack.com/services/T1/B2/sekrit' },
    });
    expect(chat.body.label).toBe('https://hooks.slack.com');
    const list = await t.request('GET', '/api/v1/notification-channels', { token: g.admin.token });
    expect(list.text).not.toContain('sekrit');
    expectError(
      await t.request('POST', '/api/v1/notification-channels', {
        token: g.admin.token,
        body: { kind: 'email', target: 'not an address' },
      }),
      400,
      'request.invalid',
    );
    expectError(
      await t.request('POST', '/api/v1/notification-channels', {
        token: g.reader.token,
        body: { kind: 'email', target: 'a@example.org' },
      }),
      403,
      'auth.forbidden',
    );
  });

  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/alerts',
    caller: 'user',
    resourceOfGroup: offlineAlertOf,
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/alerts/${ids.alertId}/acknowledge`,
    caller: 'admin',
    resourceOfGroup: offlineAlertOf,
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/notification-channels',
    body: { kind: 'email', target: 'oncall@example.org' },
    caller: 'admin',
    okStatus: 201,
  });
});
