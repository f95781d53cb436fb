import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
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
  type TestGateway,
} from '../../../../../testkit/control-plane/harness.js';
import { auditLog, gatewayStatus, gateways } from '../../../db/schema/index.js';
import { SESSION_COOKIE } from '../../../edge/auth-middleware.js';

/** The in-process app serves a signed release 0.0.0-test; these gateways run 0.0.0-old. */
describe.each(BACKENDS)('gateway page: upgrade (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let admin: ConsoleSession;
  let gw: TestGateway;

  async function oldGateway(connected: boolean): Promise<TestGateway> {
    const x = await enrollTestGateway(t, g);
    await t.database.db.update(gateways).set({ version: '0.0.0-old' }).where(eq(gateways.id, x.gatewayId));
    if (connected)
      await t.database.db.insert(gatewayStatus).values({
        gatewayId: x.gatewayId,
        status: 'online',
        channelId: randomUUID(),
        connectedAt: new Date(),
      });
    return x;
  }
  const upgrades = async (gatewayId: string) =>
    (
      await t.database.db
        .select({ details: auditLog.details, actorId: auditLog.actorId })
        .from(auditLog)
        .where(and(eq(auditLog.action, 'gateway.upgrade'), eq(auditLog.targetId, gatewayId)))
    ).map((r) => r.actorId);

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Upgrade page group');
    other = await t.seedGroup('Upgrade page other');
    gw = await oldGateway(true);
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the fleet and the gateway page say the gateway is behind the served release, with a button', async () => {
    const fleet = await consoleGet(t, '/fleet', admin);
    expect(fleet.html).toContain('0.0.0-old (behind 0.0.0-test)');
    const page = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(page.html).toContain('<strong data-agent-version="true">0.0.0-old</strong>');
    expect(page.html).toContain(`action="/gateways/${gw.gatewayId}/upgrade"`);
    expect(page.html).toContain('Upgrade to 0.0.0-test');
  });

  it('upgrades (CSRF checked), says so and audits who asked; a gateway on the release gets no button', async () => {
    const forged = await consolePost(
      t,
      `/gateways/${gw.gatewayId}/upgrade`,
      { cookie: admin.cookie, csrf: 'x' },
      {},
    );
    expect(forged.status).toBe(403);
    expect(await upgrades(gw.gatewayId)).toEqual([]);
    const ok = await consolePost(t, `/gateways/${gw.gatewayId}/upgrade`, admin, {});
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`/gateways/${gw.gatewayId}?notice=upgrade-sent`);
    expect((await consoleGet(t, ok.location!, admin)).html).toContain('Upgrade sent');
    expect(await upgrades(gw.gatewayId)).toEqual([g.admin.id]);

    const current = await enrollTestGateway(t, g);
    const page = await consoleGet(t, `/gateways/${current.gatewayId}`, admin);
    expect(page.html).toContain('the release this control plane serves (0.0.0-test) or newer');
    expect(page.html).not.toContain(`action="/gateways/${current.gatewayId}/upgrade"`);
  });

  it('an offline gateway re-renders the page with the reason (409), nothing sent', async () => {
    const offline = await oldGateway(false);
    const res = await consolePost(t, `/gateways/${offline.gatewayId}/upgrade`, admin, {});
    expect(res.status).toBe(409);
    expect(res.html).toContain('Could not upgrade');
    expect(res.html).toContain('no live control channel');
    expect(await upgrades(offline.gatewayId)).toEqual([]);
  });

  it('no, a bad or an expired session upgrades nothing; a reader is refused; another group gets a 404', async () => {
    const target = await oldGateway(true);
    const path = `/gateways/${target.gatewayId}/upgrade`;
    const none = await consolePost(t, path, undefined, {});
    const bad = await consolePost(t, path, { cookie: `${SESSION_COOKIE}=not-a-token`, csrf: admin.csrf }, {});
    const expiredToken = await sessionTokenFor(
      t,
      { ...g.admin, groupId: g.groupId, role: 'admin' },
      { expSeconds: -60 },
    );
    const expired = await consolePost(
      t,
      path,
      { cookie: `${SESSION_COOKIE}=${expiredToken}`, csrf: admin.csrf },
      {},
    );
    for (const res of [none, bad, expired]) expect(res.location ?? '').not.toContain('notice=upgrade-sent');
    const reader = await consolePost(t, path, await signInConsole(t, g.reader), {});
    expect(reader.status).toBe(403);
    const theirs = await consolePost(t, path, await signInConsole(t, other.admin), {});
    expect(theirs.status).toBe(404);
    expect(await upgrades(target.gatewayId)).toEqual([]);
  });

  it('a revoked gateway gets no button, and an upgrade is refused (409)', async () => {
    const revoked = await oldGateway(true);
    await revoked.revoke();
    const page = await consoleGet(t, `/gateways/${revoked.gatewayId}`, admin);
    expect(page.html).not.toContain(`action="/gateways/${revoked.gatewayId}/upgrade"`);
    const res = await consolePost(t, `/gateways/${revoked.gatewayId}/upgrade`, admin, {});
    expect(res.status).toBe(409);
    expect(await upgrades(revoked.gatewayId)).toEqual([]);
  });
});
