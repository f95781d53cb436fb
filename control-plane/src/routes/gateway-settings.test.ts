import { GATEWAY_CONFIG_DEFAULTS } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenForNotices, type NoticeLog } from '../../../testkit/control-plane/gateway-notices.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, configVersions, gateways } from '../db/schema/index.js';

const PACS = { name: 'Main PACS', aeTitle: 'PACS', host: 'pacs.hospital.example', port: 104 };

interface SettingsBody {
  settings: Record<string, unknown>;
  configVersions?: { gatewayId: string; version: number }[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(BACKENDS)('gateway settings routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let heard: NoticeLog;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Settings group');
    other = await t.seedGroup('Other group');
    heard = await listenForNotices(t.database);
  });
  afterAll(async () => {
    await heard?.stop();
    await t?.close();
  });

  const versionsOf = (gatewayId: string) =>
    t.database.db
      .select({ version: configVersions.version, config: configVersions.config })
      .from(configVersions)
      .where(eq(configVersions.gatewayId, gatewayId))
      .orderBy(configVersions.version);
  const latestOf = async (gatewayId: string) => (await versionsOf(gatewayId)).at(-1);
  const put = (group: SeededGroup, body: unknown, token = group.admin.token) =>
    t.request<SettingsBody & ErrorBody>('PUT', '/api/v1/settings/gateways', { token, body });

  it('replaces the group settings, versions and notifies every changed gateway once, and audits', async () => {
    const f1 = await seedFacility(t, g, { aeTitle: 'SITE1' });
    const f2 = await seedFacility(t, g, { aeTitle: 'SITE2' });
    const a = await enrollTestGateway(t, g, { facilityId: f1.facilityId });
    const b = await enrollTestGateway(t, g, { facilityId: f2.facilityId });
    const revoked = await enrollTestGateway(t, g, { facilityId: f2.facilityId });
    await revoked.revoke();
    const theirs = await enrollTestGateway(t, other);

    const empty = await t.request<SettingsBody>('GET', '/api/v1/settings/gateways', {
      token: g.reader.token,
    });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ settings: {} });

    const settings = { port: 11112, maxAssociations: 8, upload: { parallelism: 2 } };
    const res = await put(g, settings);
    expect(res.status, res.text).toBe(200);
    expect(res.body.settings).toEqual(settings);
    const written = [...res.body.configVersions!].sort((x, y) => x.gatewayId.localeCompare(y.gatewayId));
    expect(written).toEqual(
      [
        { gatewayId: a.gatewayId, version: 1 },
        { gatewayId: b.gatewayId, version: 1 },
      ].sort((x, y) => x.gatewayId.localeCompare(y.gatewayId)),
    );
    expect((await latestOf(a.gatewayId))?.config).toEqual({
      ...GATEWAY_CONFIG_DEFAULTS,
      aeTitle: 'SITE1',
      port: 11112,
      maxAssociations: 8,
      upload: { ...GATEWAY_CONFIG_DEFAULTS.upload, parallelism: 2 },
    });
    expect(await versionsOf(revoked.gatewayId)).toEqual([]);
    expect(await versionsOf(theirs.gatewayId)).toEqual([]);
    await heard.waitFor(() => heard.configIds().includes(b.gatewayId));
    expect(heard.configIds().filter((id) => id === a.gatewayId)).toHaveLength(1);
    expect(heard.configIds()).not.toContain(revoked.gatewayId);

    const got = await t.request<SettingsBody>('GET', '/api/v1/settings/gateways', { token: g.reader.token });
    expect(got.body).toEqual({ settings });
    const theirSettings = await t.request<SettingsBody>('GET', '/api/v1/settings/gateways', {
      token: other.reader.token,
    });
    expect(theirSettings.body).toEqual({ settings: {} });

    // The same settings again (keys in another order): nothing changes, nothing is pushed.
    const heardBefore = heard.notices.length;
    const again = await put(g, { upload: { parallelism: 2 }, maxAssociations: 8, port: 11112 });
    expect(again.status).toBe(200);
    expect(again.body.configVersions).toEqual([]);
    expect(await versionsOf(a.gatewayId)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(heard.notices.length).toBe(heardBefore);

    const audits = await t.database.db
      .select({ details: auditLog.details, actorId: auditLog.actorId })
      .from(auditLog)
      .where(and(eq(auditLog.groupId, g.groupId), eq(auditLog.action, 'group.gateway_settings.update')));
    expect(audits[0]).toEqual({
      actorId: g.admin.id,
      details: { from: {}, to: settings, configVersions: 2 },
    });
  });

  it('lets a facility override the group, field by field, and versions only what really changed', async () => {
    const f = await seedFacility(t, g, { aeTitle: 'OVERRIDE' });
    const plain = await seedFacility(t, g, { aeTitle: 'PLAIN' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const gwPlain = await enrollTestGateway(t, g, { facilityId: plain.facilityId });
    await put(g, { port: 11112, upload: { parallelism: 2, retentionHours: 24 } });

    const patched = await t.request<{ gateway: unknown } & ErrorBody>(
      'PATCH',
      `/api/v1/facilities/${f.facilityId}`,
      {
        token: g.admin.token,
        body: { gateway: { port: 2000, upload: { bandwidthBytesPerSecond: 1000 } } },
      },
    );
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.gateway).toEqual({ port: 2000, upload: { bandwidthBytesPerSecond: 1000 } });
    const v = await latestOf(gw.gatewayId);
    expect(v?.config).toMatchObject({
      aeTitle: 'OVERRIDE',
      port: 2000,
      upload: { parallelism: 2, retentionHours: 24, bandwidthBytesPerSecond: 1000, schedule: [] },
    });
    await heard.waitFor(() => heard.configIds().includes(gw.gatewayId));

    // The group's port no longer reaches the overriding facility; its parallelism still does.
    const res = await put(g, { port: 3000, upload: { parallelism: 2, retentionHours: 24 } });
    expect(res.body.configVersions!.map((x) => x.gatewayId)).toContain(gwPlain.gatewayId);
    expect(res.body.configVersions!.map((x) => x.gatewayId)).not.toContain(gw.gatewayId);
    expect((await latestOf(gwPlain.gatewayId))?.config).toMatchObject({ port: 3000 });
    expect((await latestOf(gw.gatewayId))?.version).toBe(v?.version);

    // A stable period change is part of the config now; a rename is not.
    const before = (await versionsOf(gw.gatewayId)).length;
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.admin.token,
      body: { name: 'Renamed only' },
    });
    expect(await versionsOf(gw.gatewayId)).toHaveLength(before);
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.admin.token,
      body: { stablePeriodSeconds: 120 },
    });
    expect(await versionsOf(gw.gatewayId)).toHaveLength(before + 1);
    expect((await latestOf(gw.gatewayId))?.config).toMatchObject({ stablePeriodSeconds: 120, port: 2000 });

    // null clears the facility's overrides: the group's port applies again.
    const cleared = await t.request<{ gateway: unknown }>('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.admin.token,
      body: { gateway: null },
    });
    expect(cleared.body.gateway).toEqual({});
    expect((await latestOf(gw.gatewayId))?.config).toMatchObject({ port: 3000 });
  });

  it("peers: the group's list reaches its gateways; a facility's own list replaces it", async () => {
    const grp = await t.seedGroup('Peers group');
    const f = await seedFacility(t, grp, { aeTitle: 'PEERS1' });
    const own = await seedFacility(t, grp, { aeTitle: 'PEERS2' });
    const gw = await enrollTestGateway(t, grp, { facilityId: f.facilityId });
    const gwOwn = await enrollTestGateway(t, grp, { facilityId: own.facilityId });
    const ct = { name: 'CT 1', aeTitle: 'CT1', host: '10.1.2.3', port: 11112, tls: true };
    const res = await put(grp, { peers: [{ ...PACS, host: ' PACS.Hospital.Example ' }] });
    expect(res.status, res.text).toBe(200);
    // Stored as parsed: the host trimmed and in lower case, TLS off unless asked.
    expect(res.body.settings).toEqual({ peers: [{ ...PACS, tls: false }] });
    await t.request('PATCH', `/api/v1/facilities/${own.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { peers: [ct] } },
    });
    expect((await latestOf(gw.gatewayId))?.config).toMatchObject({ peers: [{ ...PACS, tls: false }] });
    expect((await latestOf(gwOwn.gatewayId))?.config).toMatchObject({ peers: [ct] });
  });

  it('gives a gateway without a version yet its merged config on /agents/me', async () => {
    const grp = await t.seedGroup('Self group');
    const f = await seedFacility(t, grp, { aeTitle: 'SELF' });
    await put(grp, { allowedCallingAeTitles: [' CT1 '], upload: { retentionHours: 48 } });
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { maxAssociations: 2 } },
    });
    const gw = await enrollTestGateway(t, grp, { facilityId: f.facilityId });
    const me = await t.request<{ configVersion: number; config: unknown }>('GET', '/api/v1/agents/me', {
      token: await gw.token(),
    });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      configVersion: 1,
      config: {
        aeTitle: 'SELF',
        allowedCallingAeTitles: ['CT1'],
        maxAssociations: 2,
        upload: { retentionHours: 48, parallelism: 4 },
      },
    });
  });

  it('creates a facility with its own gateway settings', async () => {
    const res = await t.request<{ id: string; gateway: unknown }>('POST', '/api/v1/facilities', {
      token: g.admin.token,
      body: { name: 'With settings', aeTitle: 'WITHSET', gateway: { maxAssociations: 4 } },
    });
    expect(res.status).toBe(201);
    expect(res.body.gateway).toEqual({ maxAssociations: 4 });
    const got = await t.request<{ gateway: unknown }>('GET', `/api/v1/facilities/${res.body.id}`, {
      token: g.reader.token,
    });
    expect(got.body.gateway).toEqual({ maxAssociations: 4 });
  });

  it('versions a whole fleet in a few statements (600 gateways)', async () => {
    const big = await t.seedGroup('Big fleet');
    const f = await seedFacility(t, big, { aeTitle: 'BIG' });
    const { publicJwk } = await newAgentKeyPair();
    const rows = Array.from({ length: 600 }, (_, i) => ({
      groupId: big.groupId,
      facilityId: f.facilityId,
      publicKey: publicJwk,
      hostname: `gw-${i}`,
      name: `gw-${i}`,
      version: '0.0.0-test',
    }));
    const ids = (await t.database.db.insert(gateways).values(rows).returning({ id: gateways.id })).map(
      (r) => r.id,
    );
    const heardBefore = heard.configIds().length;
    const res = await put(big, { upload: { bandwidthBytesPerSecond: 5_000_000 } });
    expect(res.status).toBe(200);
    expect(res.body.configVersions).toHaveLength(600);
    expect(new Set(res.body.configVersions!.map((x) => x.gatewayId))).toEqual(new Set(ids));
    // NOTIFY payloads are split (8000-byte limit), and every gateway is named once.
    await heard.waitFor(() => heard.configIds().length >= heardBefore + 600);
    expect(new Set(heard.configIds().slice(heardBefore))).toEqual(new Set(ids));
    const again = await put(big, { upload: { bandwidthBytesPerSecond: 6_000_000 } });
    expect(again.body.configVersions!.every((x) => x.version === 2)).toBe(true);
  });

  it('keeps concurrent group and facility changes consistent: every request succeeds, the last config is the merge', async () => {
    const grp = await t.seedGroup('Racing group');
    const fs = [await seedFacility(t, grp), await seedFacility(t, grp)];
    const gws = [];
    for (const f of fs)
      for (let i = 0; i < 10; i++) gws.push(await enrollTestGateway(t, grp, { facilityId: f.facilityId }));
    for (let round = 1; round <= 6; round++) {
      const results = await Promise.all([
        put(grp, { maxAssociations: round }),
        ...fs.map((f) =>
          t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
            token: grp.admin.token,
            body: { gateway: { port: 5000 + round } },
          }),
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    }
    for (const gw of gws) {
      const versions = await versionsOf(gw.gatewayId);
      expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
      expect(versions.at(-1)?.config).toMatchObject({ maxAssociations: 6, port: 5006 });
    }
  });

  it('pushes the transfer-syntax policy and private UID lists, a facility value winning over the group', async () => {
    const f = await seedFacility(t, g, { aeTitle: 'TSPOLICY' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const res = await put(g, { transferSyntaxPolicy: 'prefer-compressed', privateSopClasses: ['1.2.3.4'] });
    expect(res.status, res.text).toBe(200);
    const patched = await t.request<ErrorBody>('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.admin.token,
      body: { gateway: { privateTransferSyntaxes: ['1.2.3.5'], privateSopClasses: ['1.2.3.6'] } },
    });
    expect(patched.status, patched.text).toBe(200);
    expect((await latestOf(gw.gatewayId))?.config).toMatchObject({
      transferSyntaxPolicy: 'prefer-compressed',
      privateTransferSyntaxes: ['1.2.3.5'],
      privateSopClasses: ['1.2.3.6'],
    });
    expect((await put(g, {})).status).toBe(200);
  });

  describe('errors', () => {
    it.each([
      [{ port: 70000 }, /^port: /],
      [{ upload: { parallelism: 0 } }, /^upload\.parallelism: /],
      [
        { allowedCallingAeTitles: ['A\\B'] },
        /^allowedCallingAeTitles\.0: AE title must not contain a backslash/,
      ],
      [
        { upload: { schedule: [{ days: [1], from: '25:00', to: '18:00', bandwidthBytesPerSecond: 1 }] } },
        /^upload\.schedule\.0\.from: /,
      ],
      [{ colour: 'blue' }, /colour/],
      [{ transferSyntaxPolicy: 'fastest' }, /^transferSyntaxPolicy: must be one of "as-proposed", /],
      [
        { upload: { compression: 'jpeg2000' } },
        /^upload\.compression: must be one of "auto", "image", "zstd", "none"/,
      ],
      [
        { privateTransferSyntaxes: ['1.2.3', '1.2.03'] },
        /^privateTransferSyntaxes\.1: "1\.2\.03" is not a UID/,
      ],
      [
        { privateSopClasses: ['1.2.840.10008.5.1.4.1.1.2'] },
        /^privateSopClasses\.0: .* under the DICOM root/,
      ],
      [{ peers: [{ ...PACS, host: 'pacs.example:104' }] }, /^peers\.0\.host: .*without a port/],
      [{ peers: [{ ...PACS, host: '300.1.1.1' }] }, /^peers\.0\.host: is not a valid IPv4 address/],
      [{ peers: [{ ...PACS, port: 0 }] }, /^peers\.0\.port: /],
      [
        { peers: [{ ...PACS, aeTitle: 'A\\B' }] },
        /^peers\.0\.aeTitle: AE title must not contain a backslash/,
      ],
      [{ peers: [{ ...PACS, tls: 'yes' }] }, /^peers\.0\.tls: /],
      [{ peers: [{ ...PACS, name: '' }] }, /^peers\.0\.name: must not be empty/],
      [{ peers: [PACS, { ...PACS, name: 'main pacs' }] }, /^peers\.1\.name: "main pacs" is already the name/],
      [{ peers: Array.from({ length: 65 }, (_, i) => ({ ...PACS, name: `P${i}` })) }, /^peers: .*64/],
    ])('refuses %j with a 400 naming the field', async (body, message) => {
      const res = await put(g, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('request.invalid');
      expect(res.body.error.message).toMatch(message);
    });

    it('refuses invalid facility peers naming gateway.peers.<n>.<field>', async () => {
      const f = await seedFacility(t, g);
      const res = await t.request<ErrorBody>('PATCH', `/api/v1/facilities/${f.facilityId}`, {
        token: g.admin.token,
        body: { gateway: { peers: [{ ...PACS, port: 70000 }] } },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^gateway\.peers\.0\.port: /);
    });

    it('refuses invalid facility settings naming gateway.<field>, and changes nothing', async () => {
      const f = await seedFacility(t, g);
      const res = await t.request<ErrorBody>('PATCH', `/api/v1/facilities/${f.facilityId}`, {
        token: g.admin.token,
        body: { gateway: { maxAssociations: 0 } },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^gateway\.maxAssociations: /);
      const got = await t.request<{ gateway: unknown }>('GET', `/api/v1/facilities/${f.facilityId}`, {
        token: g.admin.token,
      });
      expect(got.body.gateway).toEqual({});
    });

    it('gives readers 403 on PUT', async () => {
      const res = await put(g, { port: 4105 }, g.reader.token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('auth.forbidden');
    });
  });
});

describe.each(BACKENDS)('gateway settings routes: common security (%s)', (backend) => {
  const gatewayOf = (t: TestApp, g: SeededGroup) =>
    enrollTestGateway(t, g).then(({ gatewayId, facilityId }) => ({ gatewayId, facilityId }));
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/settings/gateways',
    caller: 'user',
    resourceOfGroup: gatewayOf,
  });
  runCommonRouteTests(backend, {
    method: 'PUT',
    path: '/api/v1/settings/gateways',
    body: { port: 4105 },
    caller: 'admin',
    resourceOfGroup: gatewayOf,
    okStatus: 200,
  });
});
