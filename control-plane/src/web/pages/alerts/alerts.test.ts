import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  sessionTokenFor,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { seedGatewayStatus } from '../../../../../testkit/control-plane/seed-gateway-status.js';
import { systemCtx } from '../../../context.js';
import { alerts, auditLog, notificationChannels } from '../../../db/schema/index.js';
import { SESSION_COOKIE } from '../../../edge/auth-middleware.js';
import { syncAlerts } from '../../../services/sync-alerts.js';

describe.each(BACKENDS)('console Alerts page (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let admin: ConsoleSession;
  let alertId = '';
  let gatewayId = '';

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Alerts page A');
    b = await t.seedGroup('Alerts page B');
    const gw = await enrollTestGateway(t, a, { hostname: 'xray-2' });
    gatewayId = gw.gatewayId;
    await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'offline' });
    await syncAlerts({ ctx: systemCtx(t.database.db, pino({ level: 'silent' }), 'test'), input: {} });
    const [row] = await t.database.db
      .select({ id: alerts.id })
      .from(alerts)
      .where(eq(alerts.gatewayId, gatewayId));
    alertId = row!.id;
    admin = await signInConsole(t, a.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('no, a bad or an expired session goes to sign-in; a reader is refused; another group sees nothing of it', async () => {
    expect((await consoleGet(t, '/alerts')).location).toBe('/login?next=%2Falerts');
    const bad = await consoleGet(t, '/alerts', { cookie: `${SESSION_COOKIE}=not-a-token`, csrf: '' });
    expect(bad.location).toBe('/login?next=%2Falerts');
    const expired = await sessionTokenFor(
      t,
      { ...a.admin, groupId: a.groupId, role: 'admin' },
      { expSeconds: -60 },
    );
    const old = await consoleGet(t, '/alerts', { cookie: `${SESSION_COOKIE}=${expired}`, csrf: '' });
    expect(old.location).toBe('/login?next=%2Falerts&expired=1');
    const reader = await signInConsole(t, a.reader);
    expect((await consoleGet(t, '/alerts', reader)).status).toBe(403);
    expect((await consolePost(t, `/alerts/${alertId}/acknowledge`, reader)).status).toBe(403);
    const otherAdmin = await signInConsole(t, b.admin);
    const theirs = await consoleGet(t, '/alerts', otherAdmin);
    expect(theirs.status).toBe(200);
    expect(theirs.html).not.toContain(gatewayId);
    expect(theirs.html).not.toContain('data-alert-count');
    expect((await consolePost(t, `/alerts/${alertId}/acknowledge`, otherAdmin)).status).toBe(404);
  });

  it('lists the alert with the nav count; acknowledge needs the CSRF token, records who and when, and is audited', async () => {
    const page = await consoleGet(t, '/alerts', admin);
    expect(page.status).toBe(200);
    expect(page.html).toContain('gateway.offline');
    expect(page.html).toContain(`href="/gateways/${gatewayId}"`);
    expect(page.html).toMatch(/data-alert-count="1"/);
    // The count is on every page of the console, not only this one.
    expect((await consoleGet(t, '/account', admin)).html).toMatch(/data-alert-count="1"/);

    const forged = await consolePost(t, `/alerts/${alertId}/acknowledge`, admin, { _csrf: 'forged' });
    expect(forged.status).toBe(403);
    const ack = await consolePost(t, `/alerts/${alertId}/acknowledge`, admin);
    expect(ack.location).toBe('/alerts?notice=acknowledged');
    const after = await consoleGet(t, '/alerts?notice=acknowledged', admin);
    expect(after.html).not.toContain('data-alert-count');
    expect(after.html).toContain(`by ${a.admin.email}`);
    const audits = await t.database.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'alert.acknowledge'));
    expect(audits).toHaveLength(1);
  });

  it('adds and removes an e-mail channel; a bad address is shown in the form', async () => {
    const bad = await consolePost(t, '/alerts/channels', admin, { kind: 'email', target: 'nobody' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('must be one e-mail address');
    const ok = await consolePost(t, '/alerts/channels', admin, { kind: 'email', target: 'oncall@a.example' });
    expect(ok.location).toBe('/alerts?notice=channel-added');
    const [ch] = await t.database.db
      .select()
      .from(notificationChannels)
      .where(eq(notificationChannels.groupId, a.groupId));
    expect((await consoleGet(t, '/alerts', admin)).html).toContain('oncall@a.example');
    const otherAdmin = await signInConsole(t, b.admin);
    expect((await consolePost(t, `/alerts/channels/${ch!.id}/delete`, otherAdmin)).status).toBe(404);
    expect((await consolePost(t, `/alerts/channels/${ch!.id}/delete`, admin)).location).toBe(
      '/alerts?notice=channel-removed',
    );
  });
});
