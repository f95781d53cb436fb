import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { systemCtx } from '../context.js';
import { auditLog, gatewayStatus, gateways, upgradeRollouts } from '../db/schema/index.js';
import { advanceUpgradeRollouts, CANARY_WAIT_MS } from '../services/advance-upgrade-rollouts.js';

/** A gateway of `facilityId` on 0.0.0-old (the served release is 0.0.0-test), with a live channel or not. */
async function oldGateway(t: TestApp, g: SeededGroup, facilityId: string, connected: boolean) {
  const gw = await enrollTestGateway(t, g, { facilityId });
  await t.database.db.update(gateways).set({ version: '0.0.0-old' }).where(eq(gateways.id, gw.gatewayId));
  await t.database.db.insert(gatewayStatus).values({
    gatewayId: gw.gatewayId,
    status: connected ? 'online' : 'offline',
    channelId: connected ? randomUUID() : null,
    connectedAt: new Date(),
  });
  return gw;
}

async function facilityWithOldGateway(t: TestApp, g: SeededGroup): Promise<{ facilityId: string }> {
  const { facilityId } = await seedFacility(t, g);
  await oldGateway(t, g, facilityId, true);
  return { facilityId };
}

describe.each(BACKENDS)('upgrade rollout route: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/upgrades',
    body: (ids) => ({ facilityId: ids.facilityId }),
    caller: 'admin',
    resourceOfGroup: facilityWithOldGateway,
    okStatus: 202,
  });
});

describe('a facility upgrade, canary first', () => {
  let t: TestApp;
  let g: SeededGroup;
  const advance = () =>
    advanceUpgradeRollouts({ ctx: systemCtx(t.database.db, pino({ level: 'silent' }), 'test') });
  const rollout = async (id: string) =>
    (await t.database.db.select().from(upgradeRollouts).where(eq(upgradeRollouts.id, id)))[0];

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Rollouts');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends the canary first, the rest only once it is back online on the new version', async () => {
    const { facilityId } = await seedFacility(t, g);
    const offline = await oldGateway(t, g, facilityId, false);
    const canary = await oldGateway(t, g, facilityId, true);
    const second = await oldGateway(t, g, facilityId, true);
    const res = await t.request('POST', '/api/v1/upgrades', { token: g.admin.token, body: { facilityId } });
    expect(res.status, res.text).toBe(202);
    const started = res.body as {
      rolloutId: string;
      canaryGatewayId: string;
      waiting: number;
      version: string;
    };
    // The first gateway with a live channel, not the first enrolled (offline) one.
    expect(started).toMatchObject({ canaryGatewayId: canary.gatewayId, waiting: 2, version: '0.0.0-test' });
    expect((await rollout(started.rolloutId))?.gatewayIds.sort()).toEqual(
      [offline.gatewayId, second.gatewayId].sort(),
    );
    const [audit] = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'gateway.upgrade_rollout'), eq(auditLog.targetId, facilityId)));
    expect(audit?.actorId).toBe(g.admin.id);

    // Not back yet: nothing moves.
    expect(await advance()).toEqual({ done: [], failed: [] });
    expect((await rollout(started.rolloutId))?.state).toBe('canary');
    // Back on the new version, but offline (restarting): still waiting.
    await t.database.db
      .update(gateways)
      .set({ version: '0.0.0-test' })
      .where(eq(gateways.id, canary.gatewayId));
    await t.database.db
      .update(gatewayStatus)
      .set({ status: 'offline' })
      .where(eq(gatewayStatus.gatewayId, canary.gatewayId));
    expect((await advance()).done).toEqual([]);
    await t.database.db
      .update(gatewayStatus)
      .set({ status: 'online' })
      .where(eq(gatewayStatus.gatewayId, canary.gatewayId));
    expect((await advance()).done).toEqual([started.rolloutId]);
    expect((await rollout(started.rolloutId))?.state).toBe('done');
    // Claimed once: a second pass (another replica) does nothing.
    expect((await advance()).done).toEqual([]);
  });

  it('a canary that does not come back fails the rollout and the rest keep their version', async () => {
    const { facilityId } = await seedFacility(t, g);
    await oldGateway(t, g, facilityId, true);
    await oldGateway(t, g, facilityId, true);
    const res = await t.request('POST', '/api/v1/upgrades', { token: g.admin.token, body: { facilityId } });
    expect(res.status).toBe(202);
    const { rolloutId } = res.body as { rolloutId: string };
    await t.database.db
      .update(upgradeRollouts)
      .set({ createdAt: new Date(Date.now() - CANARY_WAIT_MS - 1000) })
      .where(eq(upgradeRollouts.id, rolloutId));
    expect((await advance()).failed).toEqual([rolloutId]);
    const row = await rollout(rolloutId);
    expect(row?.state).toBe('failed');
    expect(row?.reason).toMatch(/did not come back online on 0\.0\.0-test/);
  });

  it('refuses when every gateway is up to date (409 resource.conflict) or none behind is online (409 gateway.offline)', async () => {
    const current = await seedFacility(t, g);
    await enrollTestGateway(t, g, { facilityId: current.facilityId });
    expectError(
      await t.request('POST', '/api/v1/upgrades', {
        token: g.admin.token,
        body: { facilityId: current.facilityId },
      }),
      409,
      'resource.conflict',
    );
    const dark = await seedFacility(t, g);
    await oldGateway(t, g, dark.facilityId, false);
    expectError(
      await t.request('POST', '/api/v1/upgrades', {
        token: g.admin.token,
        body: { facilityId: dark.facilityId },
      }),
      409,
      'gateway.offline',
    );
  });
});
