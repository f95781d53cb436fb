import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import {
  condition,
  healthReport,
  seedGatewayEvent,
  seedGatewayStatus,
} from '../../../testkit/control-plane/seed-gateway-status.js';
import { auditLog } from '../db/schema/index.js';
import { appendConfigVersion, buildGatewayConfig } from '../services/gateway-config.js';

interface GatewayBody {
  id: string;
  facility: { id: string; name: string; aeTitle: string };
  hostname: string;
  version: string;
  enrolledAt: string;
  lastSeenAt: string | null;
  revokedAt: string | null;
  configVersion: number | null;
  status: string;
  statusSince: string;
  lastHeartbeatAt: string | null;
  appliedConfigVersion: number | null;
  conditions: { code: string; severity: string }[];
  config?: Record<string, unknown> | null;
  health?: Record<string, unknown> | null;
  rejectedConfig?: { version: number; reason: string } | null;
  events?: { id: string; at: string; type: string; details: Record<string, unknown> }[];
}
interface ErrorBody {
  error: { code: string; message: string; reenroll?: boolean };
}

describe.each(BACKENDS)('gateways routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Gateways group');
    other = await t.seedGroup('Other group');
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('happy path', () => {
    it('lists the group’s gateways with facility, config version and times', async () => {
      const gw = await enrollTestGateway(t, g, { hostname: 'ct-room-1' });
      const version = await t.database.db.transaction((tx) =>
        appendConfigVersion(
          tx,
          gw.gatewayId,
          buildGatewayConfig({ aeTitle: 'LISTME', stablePeriodSeconds: 60 }),
        ),
      );
      expect(version).toBe(1);
      const theirs = await enrollTestGateway(t, other);

      const res = await t.request<{ gateways: GatewayBody[] }>('GET', '/api/v1/gateways', {
        token: g.reader.token,
      });
      expect(res.status).toBe(200);
      const ids = res.body.gateways.map((x) => x.id);
      expect(ids).toContain(gw.gatewayId);
      expect(ids).not.toContain(theirs.gatewayId);
      const mine = res.body.gateways.find((x) => x.id === gw.gatewayId)!;
      expect(mine).toMatchObject({
        facility: { id: gw.facilityId },
        hostname: 'ct-room-1',
        version: '0.0.0-test',
        lastSeenAt: null,
        revokedAt: null,
        configVersion: 1,
      });
      expect(new Date(mine.enrolledAt).toISOString()).toBe(mine.enrolledAt);
      expect(typeof mine.facility.aeTitle).toBe('string');
    });

    it('shows one gateway with its latest desired config; versions increase per gateway', async () => {
      const gw = await enrollTestGateway(t, g);
      const none = await t.request<GatewayBody>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
        token: g.reader.token,
      });
      expect(none.status).toBe(200);
      expect(none.body).toMatchObject({ configVersion: null, config: null });

      const versions = await t.database.db.transaction(async (tx) => [
        await appendConfigVersion(
          tx,
          gw.gatewayId,
          buildGatewayConfig({ aeTitle: 'A1', stablePeriodSeconds: 60 }),
        ),
        await appendConfigVersion(
          tx,
          gw.gatewayId,
          buildGatewayConfig({ aeTitle: 'A2', stablePeriodSeconds: 60 }),
        ),
      ]);
      expect(versions).toEqual([1, 2]);
      const res = await t.request<GatewayBody>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
        token: g.reader.token,
      });
      expect(res.body).toMatchObject({
        id: gw.gatewayId,
        configVersion: 2,
        config: {
          aeTitle: 'A2',
          port: 4104,
          allowedCallingAeTitles: [],
          maxAssociations: 32,
          upload: { parallelism: 4, bandwidthBytesPerSecond: 0, schedule: [], retentionHours: 0 },
          stablePeriodSeconds: 60,
        },
      });
    });

    it('shows each gateway’s live status; one that never connected is offline since its enrolment', async () => {
      const never = await enrollTestGateway(t, g);
      const degraded = await enrollTestGateway(t, g);
      const since = new Date(Date.now() - 90_000);
      const beat = new Date(Date.now() - 5_000);
      await seedGatewayStatus(t.database.db, degraded.gatewayId, {
        status: 'degraded',
        statusSince: since,
        lastHeartbeatAt: beat,
        health: healthReport({ configVersion: 3, conditions: [condition('spool.disk_low', 'error')] }),
      });
      const res = await t.request<{ gateways: GatewayBody[] }>('GET', '/api/v1/gateways', {
        token: g.reader.token,
      });
      const byId = new Map(res.body.gateways.map((x) => [x.id, x]));
      const n = byId.get(never.gatewayId)!;
      expect(n).toMatchObject({
        status: 'offline',
        lastHeartbeatAt: null,
        appliedConfigVersion: null,
        conditions: [],
      });
      expect(n.statusSince).toBe(n.enrolledAt);
      expect(byId.get(degraded.gatewayId)).toMatchObject({
        status: 'degraded',
        statusSince: since.toISOString(),
        lastHeartbeatAt: beat.toISOString(),
        appliedConfigVersion: 3,
        conditions: [{ code: 'spool.disk_low', severity: 'error' }],
      });
    });

    it('shows one gateway’s latest health, refused config and its 50 newest events', async () => {
      const gw = await enrollTestGateway(t, g);
      const theirs = await enrollTestGateway(t, other);
      const health = healthReport({ spool: { pendingCount: 7, pendingStudies: 2 } });
      await seedGatewayStatus(t.database.db, gw.gatewayId, {
        status: 'online',
        health,
        rejectedConfig: { version: 4, reason: 'port 104 is in use', at: new Date().toISOString() },
      });
      const t0 = Date.now() - 3_600_000;
      for (let i = 0; i < 55; i++) {
        await seedGatewayEvent(t.database.db, {
          groupId: g.groupId,
          gatewayId: gw.gatewayId,
          type: 'config.applied',
          details: { version: i },
          at: new Date(t0 + i * 1000),
        });
      }
      await seedGatewayEvent(t.database.db, {
        groupId: other.groupId,
        gatewayId: theirs.gatewayId,
        type: 'status',
      });
      const res = await t.request<GatewayBody>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
        token: g.reader.token,
      });
      expect(res.status).toBe(200);
      expect(res.body.health).toEqual(health);
      expect(res.body.rejectedConfig).toMatchObject({ version: 4, reason: 'port 104 is in use' });
      expect(res.body.events).toHaveLength(50);
      expect(res.body.events!.map((e) => e.details.version)).toEqual(
        Array.from({ length: 50 }, (_, i) => 54 - i),
      );
      expect(res.body.events![0]).toMatchObject({
        type: 'config.applied',
        at: new Date(t0 + 54_000).toISOString(),
      });

      const quiet = await enrollTestGateway(t, g);
      const none = await t.request<GatewayBody>('GET', `/api/v1/gateways/${quiet.gatewayId}`, {
        token: g.reader.token,
      });
      expect(none.body).toMatchObject({ status: 'offline', health: null, rejectedConfig: null, events: [] });
    });

    it('revokes a gateway: audited once, idempotent, and its agent is told to re-enroll', async () => {
      const gw = await enrollTestGateway(t, g);
      const before = await t.request('GET', '/api/v1/agents/me', { token: await gw.token() });
      expect(before.status).toBe(200);

      const res = await t.request<GatewayBody>('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, {
        token: g.admin.token,
      });
      expect(res.status).toBe(200);
      expect(res.body.revokedAt).not.toBeNull();
      expect(res.body.lastSeenAt).not.toBeNull();

      const after = await t.request<ErrorBody>('GET', '/api/v1/agents/me', { token: await gw.token() });
      expect(after.status).toBe(401);
      expect(after.body.error).toMatchObject({ code: 'auth.reenroll', reenroll: true });

      const again = await t.request<GatewayBody>('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, {
        token: g.admin.token,
      });
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(res.body.revokedAt);
      const rows = await t.database.db
        .select({ action: auditLog.action, groupId: auditLog.groupId, actorId: auditLog.actorId })
        .from(auditLog)
        .where(eq(auditLog.targetId, gw.gatewayId));
      expect(rows).toEqual([{ action: 'gateway.revoke', groupId: g.groupId, actorId: g.admin.id }]);
    });
  });

  describe('errors', () => {
    it('answers 404 for another group’s gateway and for an unknown one', async () => {
      const theirs = await enrollTestGateway(t, other);
      for (const id of [theirs.gatewayId, unknownId()]) {
        const get = await t.request<ErrorBody>('GET', `/api/v1/gateways/${id}`, { token: g.admin.token });
        expect(get.status).toBe(404);
        expect(get.body.error.code).toBe('resource.not_found');
        const revoke = await t.request('POST', `/api/v1/gateways/${id}/revoke`, { token: g.admin.token });
        expect(revoke.status).toBe(404);
      }
      const still = await t.request('GET', '/api/v1/agents/me', { token: await theirs.token() });
      expect(still.status).toBe(200);
    });

    it('gives readers 403 on revoke', async () => {
      const gw = await enrollTestGateway(t, g);
      const res = await t.request<ErrorBody>('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, {
        token: g.reader.token,
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('auth.forbidden');
    });

    it('refuses an agent token on the fleet routes', async () => {
      const gw = await enrollTestGateway(t, g);
      const res = await t.request('GET', '/api/v1/gateways', { token: await gw.token() });
      expect(res.status).toBe(401);
    });

    it('answers 400 for an id that is not a uuid', async () => {
      const res = await t.request('GET', '/api/v1/gateways/123', { token: g.admin.token });
      expect(res.status).toBe(400);
    });
  });
});

describe.each(BACKENDS)('gateways routes: common security (%s)', (backend) => {
  const gatewayOf = (t: TestApp, g: SeededGroup) =>
    enrollTestGateway(t, g).then(({ gatewayId, facilityId }) => ({ gatewayId, facilityId }));
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/gateways',
    caller: 'user',
    resourceOfGroup: gatewayOf,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}`,
    caller: 'user',
    resourceOfGroup: gatewayOf,
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/revoke`,
    caller: 'admin',
    resourceOfGroup: gatewayOf,
    okStatus: 200,
  });
});
