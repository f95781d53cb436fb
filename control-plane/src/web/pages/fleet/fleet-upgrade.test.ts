import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  sessionTokenFor,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { gatewayStatus, gateways, upgradeRollouts } from '../../../db/schema/index.js';
import { SESSION_COOKIE } from '../../../edge/auth-middleware.js';

describe('fleet page: upgrade a facility, canary first', () => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let admin: ConsoleSession;
  let facilityId: string;

  const rollouts = async () =>
    t.database.db.select().from(upgradeRollouts).where(eq(upgradeRollouts.groupId, g.groupId));

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Fleet upgrade group');
    other = await t.seedGroup('Fleet upgrade other');
    ({ facilityId } = await seedFacility(t, g, { name: 'East Imaging', aeTitle: 'EASTIMG' }));
    for (let i = 0; i < 2; i++) {
      const gw = await enrollTestGateway(t, g, { facilityId });
      await t.database.db.update(gateways).set({ version: '0.0.0-old' }).where(eq(gateways.id, gw.gatewayId));
      await t.database.db.insert(gatewayStatus).values({
        gatewayId: gw.gatewayId,
        status: 'online',
        channelId: randomUUID(),
        connectedAt: new Date(),
      });
    }
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('offers the served release per facility, and starts a canary rollout (CSRF checked)', async () => {
    const page = await consoleGet(t, '/fleet', admin);
    expect(page.html).toContain('Upgrade gateways to 0.0.0-test');
    expect(page.html).toContain('action="/fleet/upgrade"');
    expect(page.html).toContain('<label for="upgrade-facility">Gateways of</label>');
    const forged = await consolePost(
      t,
      '/fleet/upgrade',
      { cookie: admin.cookie, csrf: 'x' },
      { facilityId },
    );
    expect(forged.status).toBe(403);
    expect(await rollouts()).toEqual([]);
    const ok = await consolePost(t, '/fleet/upgrade', admin, { facilityId });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/fleet?upgrade=started');
    expect((await consoleGet(t, ok.location!, admin)).html).toContain('Upgrade started: the canary gateway');
    const [r] = await rollouts();
    expect(r).toMatchObject({ facilityId, state: 'canary' });
    expect(r?.gatewayIds).toHaveLength(1);
  });

  it('says so when no gateway is behind', async () => {
    const up = await seedFacility(t, g);
    await enrollTestGateway(t, g, { facilityId: up.facilityId });
    const res = await consolePost(t, '/fleet/upgrade', admin, { facilityId: up.facilityId });
    expect(res.location).toBe('/fleet?upgrade=none-behind');
    expect((await consoleGet(t, res.location!, admin)).html).toContain('already runs the served release');
  });

  it('no, a bad or an expired session starts nothing; a reader is refused; another group gets a 404', async () => {
    const before = (await rollouts()).length;
    const none = await consolePost(t, '/fleet/upgrade', undefined, { facilityId });
    const bad = await consolePost(
      t,
      '/fleet/upgrade',
      { cookie: `${SESSION_COOKIE}=not-a-token`, csrf: admin.csrf },
      { facilityId },
    );
    const expiredToken = await sessionTokenFor(
      t,
      { ...g.admin, groupId: g.groupId, role: 'admin' },
      { expSeconds: -60 },
    );
    const expired = await consolePost(
      t,
      '/fleet/upgrade',
      { cookie: `${SESSION_COOKIE}=${expiredToken}`, csrf: admin.csrf },
      { facilityId },
    );
    for (const res of [none, bad, expired]) expect(res.location ?? '').not.toContain('upgrade=started');
    expect(
      (await consolePost(t, '/fleet/upgrade', await signInConsole(t, g.reader), { facilityId })).status,
    ).toBe(403);
    const theirs = await consolePost(t, '/fleet/upgrade', await signInConsole(t, other.admin), {
      facilityId,
    });
    expect(theirs.status).toBe(404);
    expect((await rollouts()).length).toBe(before);
  });
});
