import { eq } from 'drizzle-orm';
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
  seedFacility,
  sessionTokenFor,
  type TestApp,
  type TestGateway,
} from '../../../../../testkit/control-plane/harness.js';
import { auditLog, gateways } from '../../../db/schema/index.js';
import { SESSION_COOKIE } from '../../../edge/auth-middleware.js';

describe.each(BACKENDS)('gateway page: rename (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let admin: ConsoleSession;
  let gw: TestGateway;
  let facilityId: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Rename page group');
    other = await t.seedGroup('Rename page other');
    ({ facilityId } = await seedFacility(t, g, { name: 'North Imaging', aeTitle: 'NORTHIMG' }));
    gw = await enrollTestGateway(t, g, { facilityId, hostname: 'pacs-host', name: 'First name' });
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  const nameOf = async (id: string) =>
    (await t.database.db.select({ name: gateways.name }).from(gateways).where(eq(gateways.id, id)))[0]?.name;

  it('shows the name (title and facts) with the host name, and a labelled rename form', async () => {
    const page = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(page.status).toBe(200);
    expect(page.html).toContain('<title>Gateway First name · Ferry</title>');
    expect(page.html).toContain('<dd data-gateway="name">First name</dd>');
    expect(page.html).toContain('<code>pacs-host</code>');
    expect(page.html).toContain(`action="/gateways/${gw.gatewayId}/name"`);
    expect(page.html).toMatch(/<label for="gateway-name">New name<\/label>/);
  });

  it('renames (trimmed, CSRF checked), says so, audits, and the fleet shows the new name', async () => {
    const forged = await consolePost(
      t,
      `/gateways/${gw.gatewayId}/name`,
      { cookie: admin.cookie, csrf: 'forged' },
      { name: 'Forged' },
    );
    expect(forged.status).toBe(403);
    expect(await nameOf(gw.gatewayId)).toBe('First name');

    const ok = await consolePost(t, `/gateways/${gw.gatewayId}/name`, admin, { name: '  CT <room> 2 ' });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`/gateways/${gw.gatewayId}?notice=renamed`);
    expect(await nameOf(gw.gatewayId)).toBe('CT <room> 2');
    const page = await consoleGet(t, ok.location!, admin);
    expect(page.html).toContain('Gateway renamed');
    expect(page.html).toContain('<dd data-gateway="name">CT &lt;room&gt; 2</dd>');
    const fleet = await consoleGet(t, '/fleet', admin);
    expect(fleet.html).toContain(`<a href="/gateways/${gw.gatewayId}">CT &lt;room&gt; 2</a>`);
    const audit = await t.database.db
      .select({ action: auditLog.action, details: auditLog.details })
      .from(auditLog)
      .where(eq(auditLog.targetId, gw.gatewayId));
    expect(audit).toContainEqual({
      action: 'gateway.rename',
      details: { from: 'First name', to: 'CT <room> 2' },
    });
  });

  it('an empty name (400) and a taken one (409) re-render the form with the typed value and the reason', async () => {
    await enrollTestGateway(t, g, { facilityId, name: 'Taken' });
    const empty = await consolePost(t, `/gateways/${gw.gatewayId}/name`, admin, { name: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.html).toContain('Name must not be empty.');
    expect(empty.html).toContain('aria-invalid="true"');
    const taken = await consolePost(t, `/gateways/${gw.gatewayId}/name`, admin, { name: 'Taken' });
    expect(taken.status).toBe(409);
    expect(taken.html).toContain('already named &quot;Taken&quot;');
    expect(taken.html).toMatch(/id="gateway-name"[^>]*value="Taken"|value="Taken"[^>]*id="gateway-name"/);
    expect(await nameOf(gw.gatewayId)).toBe('CT <room> 2');
  });

  it('no, a bad or an expired session renames nothing; a reader is refused; another group gets a 404', async () => {
    const path = `/gateways/${gw.gatewayId}/name`;
    const none = await consolePost(t, path, undefined, { name: 'Anonymous' });
    const bad = await consolePost(
      t,
      path,
      { cookie: `${SESSION_COOKIE}=not-a-token`, csrf: admin.csrf },
      { name: 'Bad' },
    );
    const expiredToken = await sessionTokenFor(
      t,
      { ...g.admin, groupId: g.groupId, role: 'admin' },
      { expSeconds: -60 },
    );
    const expired = await consolePost(
      t,
      path,
      { cookie: `${SESSION_COOKIE}=${expiredToken}`, csrf: admin.csrf },
      { name: 'Expired' },
    );
    for (const res of [none, bad, expired]) expect(res.location ?? '').not.toContain('notice=renamed');
    const reader = await consolePost(t, path, await signInConsole(t, g.reader), { name: 'Reader' });
    expect(reader.status).toBe(403);
    const theirs = await consolePost(t, path, await signInConsole(t, other.admin), { name: 'Theirs' });
    expect(theirs.status).toBe(404);
    expect(await nameOf(gw.gatewayId)).toBe('CT <room> 2');
  });

  it('a revoked gateway shows its name without the form, and a rename is refused (409)', async () => {
    const old = await enrollTestGateway(t, g, { facilityId, name: 'Retired' });
    await old.revoke();
    const page = await consoleGet(t, `/gateways/${old.gatewayId}`, admin);
    expect(page.html).toContain('<dd data-gateway="name">Retired</dd>');
    expect(page.html).not.toContain(`action="/gateways/${old.gatewayId}/name"`);
    const res = await consolePost(t, `/gateways/${old.gatewayId}/name`, admin, { name: 'Revived' });
    expect(res.status).toBe(409);
    expect(await nameOf(old.gatewayId)).toBe('Retired');
  });
});
