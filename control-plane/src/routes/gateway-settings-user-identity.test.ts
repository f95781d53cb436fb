// The userIdentity gateway setting through the group and facility routes: only scrypt hashes are
// taken, a password in their place is refused without being repeated, and the pushed config carries
// the facility's value over the group's.

import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { configVersions } from '../db/schema/index.js';

const HASH = `scrypt$32768$8$1$${'s'.repeat(22)}$${'k'.repeat(43)}`;
const PASSWORD = 'Correct-Horse-9';

interface Body {
  settings?: Record<string, unknown>;
  error?: { code: string; message: string };
}

describe.each(BACKENDS)('userIdentity through the settings routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Identity group');
    other = await t.seedGroup('Other identity group');
  });
  afterAll(async () => {
    await t?.close();
  });

  const put = (body: unknown, token = g.admin.token) =>
    t.request<Body>('PUT', '/api/v1/settings/gateways', { token, body });
  const patch = (facilityId: string, body: unknown, token = g.admin.token) =>
    t.request<Body>('PATCH', `/api/v1/facilities/${facilityId}`, { token, body });
  const latestConfig = async (gatewayId: string) =>
    (
      await t.database.db
        .select({ config: configVersions.config })
        .from(configVersions)
        .where(eq(configVersions.gatewayId, gatewayId))
        .orderBy(configVersions.version)
    ).at(-1)?.config;

  it('refuses a password where its hash belongs, naming the field and never repeating the password', async () => {
    for (const res of [
      await put({
        userIdentity: { require: 'username-password', users: [{ username: 'ct1', passwordHash: PASSWORD }] },
      }),
      await put({
        userIdentity: { require: 'username-password', users: [{ username: 'ct1', password: PASSWORD }] },
      }),
    ]) {
      expect(res.status).toBe(400);
      expect(res.body.error?.code).toBe('request.invalid');
      expect(res.body.error?.message).toMatch(
        /^userIdentity\.users\.0\.passwordHash: must be a scrypt hash .*, never the password itself/,
      );
      expect(res.text).not.toContain(PASSWORD);
    }
    const both = await put({
      userIdentity: {
        require: 'username-password',
        users: [{ username: 'ct1', password: PASSWORD, passwordHash: HASH }],
      },
    });
    expect(both.body.error?.message).toMatch(
      /^userIdentity\.users\.0: a password is never stored: put its hash/,
    );
    expect(both.text).not.toContain(PASSWORD);
    const f = await seedFacility(t, g);
    const res = await patch(f.facilityId, { gateway: { userIdentity: { require: 'kerberos' } } });
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/^gateway\.userIdentity\.require: require must be "none", /);
  });

  it('pushes the group value, and a facility value over it whole', async () => {
    const f = await seedFacility(t, g, { aeTitle: 'IDENTITY' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const group = { require: 'username-password', users: [{ username: 'ct1', passwordHash: HASH }] };
    expect((await put({ userIdentity: group })).status).toBe(200);
    expect(await latestConfig(gw.gatewayId)).toMatchObject({ userIdentity: group });

    const own = { require: 'username', usernames: ['US_ROOM_2'] };
    const patched = await patch(f.facilityId, { gateway: { userIdentity: own } });
    expect(patched.status, patched.text).toBe(200);
    expect(await latestConfig(gw.gatewayId)).toMatchObject({ userIdentity: own });
    expect(JSON.stringify(await latestConfig(gw.gatewayId))).not.toContain('passwordHash');
  });

  it('shows readers the usernames but not the password hashes; admins get them back whole', async () => {
    const f = await seedFacility(t, g, { aeTitle: 'HIDDEN' });
    const identity = { require: 'username-password', users: [{ username: 'ct1', passwordHash: HASH }] };
    expect((await put({ userIdentity: identity })).status).toBe(200);
    expect((await patch(f.facilityId, { gateway: { userIdentity: identity } })).status).toBe(200);
    const reads = (token: string) =>
      Promise.all([
        t.request('GET', '/api/v1/settings/gateways', { token }),
        t.request('GET', `/api/v1/facilities/${f.facilityId}`, { token }),
        t.request('GET', '/api/v1/facilities', { token }),
      ]);
    for (const res of await reads(g.reader.token)) {
      expect(res.status).toBe(200);
      expect(res.text).toContain('"users":[{"username":"ct1"}]');
      expect(res.text).not.toContain('scrypt$');
    }
    for (const res of await reads(g.admin.token)) expect(res.text).toContain(HASH);
  });

  it('lets only the group admin set it, and only for their own group', async () => {
    const body = { userIdentity: { require: 'username' } };
    expect((await put(body, g.reader.token)).status).toBe(403);
    const theirs = await seedFacility(t, other);
    expect((await patch(theirs.facilityId, { gateway: body })).status).toBe(404);
  });
});
