import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  seedFacility,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, enrollmentTokens, gatewayStatus } from '../db/schema/index.js';

interface GatewayBody {
  id: string;
  name: string;
  hostname: string;
  lastSeenAt: string | null;
  lastHeartbeatAt: string | null;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(BACKENDS)('gateway names (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let facilityId: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Names group');
    other = await t.seedGroup('Other names group');
    ({ facilityId } = await seedFacility(t, g, { name: 'Radiology West', aeTitle: 'RAD_WEST' }));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function enroll(extra: Record<string, unknown> = {}) {
    const issued = await t.request<{ id: string; token: string }>(
      'POST',
      `/api/v1/facilities/${facilityId}/enrollment-tokens`,
      { token: g.admin.token, body: {} },
    );
    expect(issued.status, issued.text).toBe(201);
    const keys = await newAgentKeyPair();
    const res = await t.request<{ gatewayId: string; name: string } & ErrorBody>(
      'POST',
      '/api/v1/agents/enroll',
      {
        body: {
          token: issued.body.token,
          publicKey: { kty: 'OKP', crv: 'Ed25519', x: keys.publicJwk.x },
          hostname: 'pacs-host',
          version: '0.1.0',
          ...extra,
        },
      },
    );
    return { res, tokenId: issued.body.id };
  }

  const rename = (id: string, body: unknown, token = g.admin.token) =>
    t.request<GatewayBody & ErrorBody>('PATCH', `/api/v1/gateways/${id}`, { token, body: body as never });

  describe('at enrollment', () => {
    it('names a gateway after its facility and host, and a second one on the same host "(2)"', async () => {
      const first = await enroll();
      expect(first.res.status, first.res.text).toBe(200);
      expect(first.res.body.name).toBe('Radiology West pacs-host');
      const second = await enroll();
      expect(second.res.body.name).toBe('Radiology West pacs-host (2)');

      const list = await t.request<{ gateways: GatewayBody[] }>('GET', '/api/v1/gateways', {
        token: g.reader.token,
      });
      const names = list.body.gateways
        .filter((x) => x.id === first.res.body.gatewayId || x.id === second.res.body.gatewayId)
        .map((x) => [x.hostname, x.name]);
      expect(names.sort()).toEqual([
        ['pacs-host', 'Radiology West pacs-host'],
        ['pacs-host', 'Radiology West pacs-host (2)'],
      ]);
    });

    it('takes --name trimmed; a name the facility already holds is refused and the token stays unspent', async () => {
      const named = await enroll({ name: '  CT scanner room 3 ' });
      expect(named.res.status, named.res.text).toBe(200);
      expect(named.res.body.name).toBe('CT scanner room 3');

      const clash = await enroll({ name: 'CT scanner room 3' });
      expect(clash.res.status).toBe(409);
      expect(clash.res.body.error.code).toBe('resource.conflict');
      expect(clash.res.body.error.message).toContain('"CT scanner room 3"');
      const [tok] = await t.database.db
        .select({ uses: enrollmentTokens.uses })
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, clash.tokenId));
      expect(tok?.uses).toBe(0);
    });

    it('refuses an empty, a too long and a control-character name (400)', async () => {
      for (const name of ['   ', 'x'.repeat(65), 'bad\u0007name']) {
        const { res } = await enroll({ name });
        expect(res.status, name).toBe(400);
      }
    });
  });

  describe('PATCH /api/v1/gateways/{id}', () => {
    it('renames (trimmed), audits once with from and to, and a same-name rename changes nothing', async () => {
      const gw = await enrollTestGateway(t, g, { name: 'Old name' });
      const res = await rename(gw.gatewayId, { name: '  MR suite  ' });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: gw.gatewayId, name: 'MR suite' });
      const shown = await t.request<GatewayBody>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
        token: g.reader.token,
      });
      expect(shown.body.name).toBe('MR suite');
      expect((await rename(gw.gatewayId, { name: 'MR suite' })).status).toBe(200);
      const audit = await t.database.db
        .select({ details: auditLog.details, actorId: auditLog.actorId, groupId: auditLog.groupId })
        .from(auditLog)
        .where(and(eq(auditLog.action, 'gateway.rename'), eq(auditLog.targetId, gw.gatewayId)));
      expect(audit).toEqual([
        { details: { from: 'Old name', to: 'MR suite' }, actorId: g.admin.id, groupId: g.groupId },
      ]);
    });

    it('refuses a name another gateway of the facility holds (409), but allows it in another facility', async () => {
      const a = await enrollTestGateway(t, g, { facilityId, name: 'Shared name' });
      const b = await enrollTestGateway(t, g, { facilityId, name: 'B' });
      const clash = await rename(b.gatewayId, { name: 'Shared name' });
      expect(clash.status).toBe(409);
      expect(clash.body.error.code).toBe('resource.conflict');
      const elsewhere = await enrollTestGateway(t, g);
      expect((await rename(elsewhere.gatewayId, { name: 'Shared name' })).status).toBe(200);
      expect(a.gatewayId).not.toBe(elsewhere.gatewayId);
    });

    it('refuses bad bodies (400): empty, 65 characters, control characters, unknown fields, not a string', async () => {
      const gw = await enrollTestGateway(t, g);
      for (const body of [
        { name: '' },
        { name: ' '.repeat(3) },
        { name: 'x'.repeat(65) },
        { name: 'a\nb' },
        { name: 'ok', x: 1 },
        { name: 5 },
        {},
      ]) {
        const res = await rename(gw.gatewayId, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
      }
      expect((await rename(gw.gatewayId, { name: 'x'.repeat(64) })).status).toBe(200);
    });

    it('gives readers 403, another group 404, an unknown id 404, a revoked gateway 409', async () => {
      const gw = await enrollTestGateway(t, g);
      const reader = await rename(gw.gatewayId, { name: 'Reader was here' }, g.reader.token);
      expect(reader.status).toBe(403);
      expect(reader.body.error.code).toBe('auth.forbidden');
      const theirs = await enrollTestGateway(t, other);
      for (const id of [theirs.gatewayId, unknownId()]) {
        const res = await rename(id, { name: 'Not yours' });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('resource.not_found');
      }
      await gw.revoke();
      const revoked = await rename(gw.gatewayId, { name: 'Too late' });
      expect(revoked.status).toBe(409);
      expect(revoked.body.error.message).toContain('revoked');
      // An agent's own token is no way in either.
      expect((await rename(theirs.gatewayId, { name: 'Self' }, await theirs.token())).status).toBe(401);
    });
  });

  it('"Last seen" is never older than "Last heartbeat" (one definition: the latest of both)', async () => {
    const gw = await enrollTestGateway(t, g);
    const heartbeat = new Date(Date.now() - 5_000);
    // Heard over its channel only: the HTTP-only stamp (gateways.last_seen_at) is still empty.
    await t.database.db
      .insert(gatewayStatus)
      .values({ gatewayId: gw.gatewayId, status: 'online', lastHeartbeatAt: heartbeat });
    const get = async () =>
      (await t.request<GatewayBody>('GET', `/api/v1/gateways/${gw.gatewayId}`, { token: g.reader.token }))
        .body;
    const channelOnly = await get();
    expect(channelOnly.lastHeartbeatAt).toBe(heartbeat.toISOString());
    expect(channelOnly.lastSeenAt).toBe(heartbeat.toISOString());

    // Then an HTTP call: last seen moves on, last heartbeat stays.
    expect((await t.request('GET', '/api/v1/agents/me', { token: await gw.token() })).status).toBe(200);
    const both = await get();
    expect(both.lastHeartbeatAt).toBe(heartbeat.toISOString());
    expect(new Date(both.lastSeenAt!).getTime()).toBeGreaterThan(heartbeat.getTime());

    const list = await t.request<{ gateways: GatewayBody[] }>('GET', '/api/v1/gateways', {
      token: g.reader.token,
    });
    for (const row of list.body.gateways) {
      if (row.lastHeartbeatAt === null) continue;
      expect(new Date(row.lastSeenAt!).getTime()).toBeGreaterThanOrEqual(
        new Date(row.lastHeartbeatAt).getTime(),
      );
    }
  });
});

describe.each(BACKENDS)('gateway rename: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'PATCH',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}`,
    body: { name: 'Renamed by the suite' },
    caller: 'admin',
    resourceOfGroup: (t, g) => enrollTestGateway(t, g).then(({ gatewayId }) => ({ gatewayId })),
    okStatus: 200,
  });
});
