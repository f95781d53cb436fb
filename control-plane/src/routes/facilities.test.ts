import { GATEWAY_CONFIG_DEFAULTS } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, configVersions } from '../db/schema/index.js';

type Group = SeededGroup;
interface FacilityBody {
  id: string;
  name: string;
  aeTitle: string;
  createdAt: string;
  updatedAt: string;
}
interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

describe.each(BACKENDS)('facilities routes (%s)', (backend) => {
  let t: TestApp;
  let g: Group;
  let other: Group;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Facilities group');
    other = await t.seedGroup('Other group');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function create(group: Group, name: string, aeTitle: string): Promise<FacilityBody> {
    const res = await t.request<FacilityBody>('POST', '/api/v1/facilities', {
      token: group.admin.token,
      body: { name, aeTitle },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  describe('happy path', () => {
    it('creates, lists, gets, renames and deletes a facility, auditing each change', async () => {
      const created = await create(g, '  Main hospital ', '  CT1 ');
      expect(created).toMatchObject({ name: 'Main hospital', aeTitle: 'CT1' });
      expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);

      const list = await t.request<{ facilities: FacilityBody[] }>('GET', '/api/v1/facilities', {
        token: g.reader.token,
      });
      expect(list.status).toBe(200);
      expect(list.body.facilities.map((f) => f.id)).toContain(created.id);

      const got = await t.request('GET', `/api/v1/facilities/${created.id}`, { token: g.reader.token });
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created);

      const renamed = await t.request('PATCH', `/api/v1/facilities/${created.id}`, {
        token: g.admin.token,
        body: { name: 'Main hospital, east wing' },
      });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({ name: 'Main hospital, east wing', aeTitle: 'CT1' });

      const del = await t.request('DELETE', `/api/v1/facilities/${created.id}`, {
        token: g.admin.token,
      });
      expect(del.status).toBe(204);
      const gone = await t.request('GET', `/api/v1/facilities/${created.id}`, { token: g.admin.token });
      expect(gone.status).toBe(404);

      const actions = await t.database.db
        .select({ action: auditLog.action })
        .from(auditLog)
        .where(and(eq(auditLog.groupId, g.groupId), eq(auditLog.targetId, created.id)))
        .orderBy(auditLog.id);
      expect(actions.map((a) => a.action)).toEqual(['facility.create', 'facility.update', 'facility.delete']);
    });

    it('lets another group use the same AE title', async () => {
      await create(g, 'Shared title here', 'SHARED');
      const mine = await create(other, 'Shared title there', 'SHARED');
      expect(mine.aeTitle).toBe('SHARED');
    });

    it('records an AE title change as a new config version for every non-revoked gateway', async () => {
      const facility = await create(g, 'Imaging centre', 'MR1');
      const gw1 = await enrollTestGateway(t, g, { facilityId: facility.id });
      const gw2 = await enrollTestGateway(t, g, { facilityId: facility.id });
      const revoked = await enrollTestGateway(t, g, { facilityId: facility.id });
      const rev = await t.request('POST', `/api/v1/gateways/${revoked.gatewayId}/revoke`, {
        token: g.admin.token,
      });
      expect(rev.status).toBe(200);

      const versionsOf = async (gatewayId: string) =>
        t.database.db
          .select({ version: configVersions.version, config: configVersions.config })
          .from(configVersions)
          .where(eq(configVersions.gatewayId, gatewayId))
          .orderBy(configVersions.version);
      const before1 = await versionsOf(gw1.gatewayId);
      const beforeRevoked = await versionsOf(revoked.gatewayId);

      const res = await t.request<FacilityBody>('PATCH', `/api/v1/facilities/${facility.id}`, {
        token: g.admin.token,
        body: { aeTitle: ' MR2 ' },
      });
      expect(res.status).toBe(200);
      expect(res.body.aeTitle).toBe('MR2');

      for (const gw of [gw1, gw2]) {
        const versions = await versionsOf(gw.gatewayId);
        const last = versions.at(-1)!;
        expect(versions.length).toBe(before1.length + 1);
        expect(last.version).toBe((before1.at(-1)?.version ?? 0) + 1);
        expect(last.config).toEqual({ ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'MR2' });
      }
      expect(await versionsOf(revoked.gatewayId)).toEqual(beforeRevoked);

      const detail = await t.request('GET', `/api/v1/gateways/${gw1.gatewayId}`, { token: g.reader.token });
      expect(detail.body).toMatchObject({
        configVersion: (before1.at(-1)?.version ?? 0) + 1,
        facility: { id: facility.id, aeTitle: 'MR2' },
      });

      // Renaming alone, or setting the same title, is no new config version.
      await t.request('PATCH', `/api/v1/facilities/${facility.id}`, {
        token: g.admin.token,
        body: { name: 'Imaging centre 2', aeTitle: 'MR2' },
      });
      expect((await versionsOf(gw1.gatewayId)).length).toBe(before1.length + 1);
    });
  });

  describe('errors', () => {
    it.each([
      ['AB\\CD', 'aeTitle: AE title must not contain a backslash'],
      ['   ', 'aeTitle: AE title must not be empty or all spaces'],
      ['ABCDEFGHIJKLMNOPQ', 'aeTitle: AE title must be at most 16 characters (got 17)'],
      ['CT\u00e9', 'aeTitle: AE title must use only the DICOM default character repertoire'],
    ])('refuses AE title %j with a 400 saying why', async (aeTitle, message) => {
      const res = await t.request<ErrorBody>('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: 'Bad', aeTitle },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('request.invalid');
      expect(res.body.error.message).toContain(message);
    });

    it('refuses a missing name, unknown fields and an empty PATCH', async () => {
      const noName = await t.request<ErrorBody>('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { aeTitle: 'X1' },
      });
      expect(noName.status).toBe(400);
      expect(noName.body.error.message).toMatch(/^name: /);
      const extra = await t.request('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: 'X', aeTitle: 'X1', groupId: other.groupId },
      });
      expect(extra.status).toBe(400);
      const f = await create(g, 'Patchable', 'PATCH1');
      const empty = await t.request('PATCH', `/api/v1/facilities/${f.id}`, {
        token: g.admin.token,
        body: {},
      });
      expect(empty.status).toBe(400);
      const badTitle = await t.request<ErrorBody>('PATCH', `/api/v1/facilities/${f.id}`, {
        token: g.admin.token,
        body: { aeTitle: 'A\\B' },
      });
      expect(badTitle.status).toBe(400);
      expect(badTitle.body.error.message).toBe('aeTitle: AE title must not contain a backslash');
    });

    it('refuses a taken AE title with a 409 naming the facility that holds it', async () => {
      await create(g, 'Radiology north', 'CTN');
      const dup = await t.request('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: 'Radiology south', aeTitle: ' CTN  ' },
      });
      expect(dup.status).toBe(409);
      expect(dup.body).toMatchObject({
        error: {
          code: 'resource.conflict',
          message: 'AE title "CTN" is already used by facility "Radiology north"',
        },
      });

      const south = await create(g, 'Radiology south', 'CTS');
      const clash = await t.request<ErrorBody>('PATCH', `/api/v1/facilities/${south.id}`, {
        token: g.admin.token,
        body: { aeTitle: 'CTN' },
      });
      expect(clash.status).toBe(409);
      expect(clash.body.error.message).toBe('AE title "CTN" is already used by facility "Radiology north"');
    });

    it('answers 404 for another group’s facility, for reads and changes alike', async () => {
      const theirs = await create(other, 'Their facility', 'THEIRS');
      const get = await t.request<ErrorBody>('GET', `/api/v1/facilities/${theirs.id}`, {
        token: g.admin.token,
      });
      expect(get.status).toBe(404);
      expect(get.body.error.code).toBe('resource.not_found');
      const patch = await t.request('PATCH', `/api/v1/facilities/${theirs.id}`, {
        token: g.admin.token,
        body: { name: 'Hijacked' },
      });
      expect(patch.status).toBe(404);
      const del = await t.request<ErrorBody>('DELETE', `/api/v1/facilities/${theirs.id}`, {
        token: g.admin.token,
      });
      expect(del.status).toBe(404);
      const list = await t.request<{ facilities: FacilityBody[] }>('GET', '/api/v1/facilities', {
        token: g.admin.token,
      });
      expect(list.body.facilities.map((f) => f.id)).not.toContain(theirs.id);
      const still = await t.request('GET', `/api/v1/facilities/${theirs.id}`, { token: other.reader.token });
      expect(still.body).toMatchObject({ name: 'Their facility' });
    });

    it('gives readers 403 on every change', async () => {
      const f = await create(g, 'Read only', 'RO1');
      const post = await t.request('POST', '/api/v1/facilities', {
        token: g.reader.token,
        body: { name: 'Nope', aeTitle: 'NOPE' },
      });
      expect(post.status).toBe(403);
      const patch = await t.request('PATCH', `/api/v1/facilities/${f.id}`, {
        token: g.reader.token,
        body: { name: 'Nope' },
      });
      expect(patch.status).toBe(403);
      const del = await t.request<ErrorBody>('DELETE', `/api/v1/facilities/${f.id}`, {
        token: g.reader.token,
      });
      expect(del.status).toBe(403);
      expect(del.body.error.code).toBe('auth.forbidden');
    });

    it('refuses to delete a facility while it has non-revoked gateways', async () => {
      const f = await create(g, 'Busy site', 'BUSY');
      const gw = await enrollTestGateway(t, g, { facilityId: f.id });
      const refused = await t.request<ErrorBody>('DELETE', `/api/v1/facilities/${f.id}`, {
        token: g.admin.token,
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toBe(
        'facility "Busy site" still has 1 active gateway; revoke it first',
      );
      await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, { token: g.admin.token });
      const ok = await t.request('DELETE', `/api/v1/facilities/${f.id}`, { token: g.admin.token });
      expect(ok.status).toBe(204);
      const gwGone = await t.request('GET', `/api/v1/gateways/${gw.gatewayId}`, { token: g.admin.token });
      expect(gwGone.status).toBe(404);
    });

    it('answers 400 for an id that is not a uuid', async () => {
      const res = await t.request('GET', '/api/v1/facilities/not-a-uuid', {
        token: g.admin.token,
      });
      expect(res.status).toBe(400);
    });
  });
  it('documents the facility, gateway, group, user and audit routes in the OpenAPI document', async () => {
    const res = await t.request<{ paths: Record<string, Record<string, unknown>> }>(
      'GET',
      '/api/v1/openapi.json',
    );
    expect(res.status).toBe(200);
    const ops = Object.entries(res.body.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(ops).toEqual(
      expect.arrayContaining([
        'POST /api/v1/facilities',
        'GET /api/v1/facilities',
        'GET /api/v1/facilities/{id}',
        'PATCH /api/v1/facilities/{id}',
        'DELETE /api/v1/facilities/{id}',
        'GET /api/v1/gateways',
        'GET /api/v1/gateways/{id}',
        'POST /api/v1/gateways/{id}/revoke',
        'POST /api/v1/groups',
        'GET /api/v1/groups',
        'POST /api/v1/users',
        'GET /api/v1/users',
        'PATCH /api/v1/users/{id}',
        'GET /api/v1/audit',
        'GET /api/v1/settings/gateways',
        'PUT /api/v1/settings/gateways',
        'GET /api/v1/fleet/summary',
        'POST /api/v1/webhooks',
        'GET /api/v1/webhooks',
        'DELETE /api/v1/webhooks/{id}',
        'GET /api/v1/webhooks/{id}/deliveries',
      ]),
    );
  });
});

describe.each(BACKENDS)('facilities routes: common security (%s)', (backend) => {
  const byId = (ids: { facilityId: string }) => `/api/v1/facilities/${ids.facilityId}`;
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/facilities',
    body: { name: 'Security site', aeTitle: 'SECURITY' },
    caller: 'admin',
    resourceOfGroup: seedFacility,
    okStatus: 201,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/facilities',
    caller: 'user',
    resourceOfGroup: seedFacility,
  });
  runCommonRouteTests(backend, { method: 'GET', path: byId, caller: 'user', resourceOfGroup: seedFacility });
  runCommonRouteTests(backend, {
    method: 'PATCH',
    path: byId,
    body: { aeTitle: 'RENAMED' },
    caller: 'admin',
    resourceOfGroup: seedFacility,
  });
  runCommonRouteTests(backend, {
    method: 'DELETE',
    path: byId,
    caller: 'admin',
    resourceOfGroup: seedFacility,
    okStatus: 204,
  });
});
