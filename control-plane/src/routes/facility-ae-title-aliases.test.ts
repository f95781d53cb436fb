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
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, configVersions, facilities } from '../db/schema/index.js';

interface Alias {
  aeTitle: string;
  expiresAt: string;
}
interface FacilityBody {
  id: string;
  aeTitle: string;
  aeTitleAliases: Alias[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

const DAY = 86_400_000;

describe.each(BACKENDS)('facility AE title aliases (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Alias group');
    other = await t.seedGroup('Other alias group');
  });
  afterAll(async () => {
    await t?.close();
  });

  const patch = <B>(group: SeededGroup, id: string, body: unknown) =>
    t.request<B>('PATCH', `/api/v1/facilities/${id}`, { token: group.admin.token, body });
  const lastConfig = async (gatewayId: string) => {
    const rows = await t.database.db
      .select({ config: configVersions.config })
      .from(configVersions)
      .where(eq(configVersions.gatewayId, gatewayId))
      .orderBy(configVersions.version);
    return rows.at(-1)?.config;
  };

  it('keeps the old title as an alias for 7 days, pushes it and audits it; a later change keeps it', async () => {
    const f = await seedFacility(t, g, { name: 'CT wing', aeTitle: 'CT_OLD' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const before = Date.now();
    const res = await patch<FacilityBody>(g, f.facilityId, {
      aeTitle: 'CT_NEW',
      aeTitleAliases: [{ aeTitle: ' CT_OLD ' }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.aeTitle).toBe('CT_NEW');
    const [alias] = res.body.aeTitleAliases;
    expect(alias?.aeTitle).toBe('CT_OLD');
    const expiry = Date.parse(alias!.expiresAt);
    expect(expiry).toBeGreaterThanOrEqual(before + 7 * DAY);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 7 * DAY);
    expect(await lastConfig(gw.gatewayId)).toMatchObject({ aeTitle: 'CT_NEW', aeTitleAliases: [alias] });

    const audits = await t.database.db.select().from(auditLog).where(eq(auditLog.targetId, f.facilityId));
    expect(audits.at(-1)?.details).toMatchObject({
      changes: { aeTitle: { from: 'CT_OLD', to: 'CT_NEW' }, aeTitleAliases: { from: [], to: [alias] } },
    });

    const renamed = await patch<FacilityBody>(g, f.facilityId, { name: 'CT wing east' });
    expect(renamed.body.aeTitleAliases).toEqual([alias]);
    // Going back to the old title takes it back from the aliases.
    const back = await patch<FacilityBody>(g, f.facilityId, { aeTitle: 'CT_OLD' });
    expect(back.body.aeTitleAliases).toEqual([]);
    expect(await lastConfig(gw.gatewayId)).toMatchObject({ aeTitle: 'CT_OLD', aeTitleAliases: [] });
  });

  it('leaves an expired alias out of the next config and the API', async () => {
    const f = await seedFacility(t, g, { name: 'MR wing', aeTitle: 'MR_NEW' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    await t.database.db
      .update(facilities)
      .set({ aeTitleAliases: [{ aeTitle: 'MR_OLD', expiresAt: new Date(Date.now() - 1000).toISOString() }] })
      .where(eq(facilities.id, f.facilityId));
    const got = await t.request<FacilityBody>('GET', `/api/v1/facilities/${f.facilityId}`, {
      token: g.reader.token,
    });
    expect(got.body.aeTitleAliases).toEqual([]);
    const res = await patch<FacilityBody>(g, f.facilityId, { stablePeriodSeconds: 90 });
    expect(res.status).toBe(200);
    expect(await lastConfig(gw.gatewayId)).toMatchObject({ stablePeriodSeconds: 90, aeTitleAliases: [] });
    const [row] = await t.database.db.select().from(facilities).where(eq(facilities.id, f.facilityId));
    expect(row?.aeTitleAliases).toEqual([]);
  });

  it('refuses an alias that is the title itself, another facility’s title or alias, or a past expiry', async () => {
    const us = await seedFacility(t, g, { name: 'US wing', aeTitle: 'US1' });
    const them = await seedFacility(t, g, { name: 'NM wing', aeTitle: 'NM1' });
    const own = await patch<ErrorBody>(g, us.facilityId, { aeTitleAliases: [{ aeTitle: 'US1' }] });
    expect(own.status).toBe(400);
    expect(own.body.error.message).toBe(
      'aeTitleAliases.0.aeTitle: "US1" is the facility\'s AE title itself, not an alias',
    );
    const theirs = await patch<ErrorBody>(g, us.facilityId, { aeTitleAliases: [{ aeTitle: 'NM1' }] });
    expect(theirs.status).toBe(409);
    expect(theirs.body.error.message).toBe('AE title alias "NM1" is the AE title of facility "NM wing"');
    const past = await patch<ErrorBody>(g, us.facilityId, {
      aeTitleAliases: [{ aeTitle: 'US0', expiresAt: new Date(Date.now() - DAY).toISOString() }],
    });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toBe('aeTitleAliases.0.expiresAt: must be in the future');
    const bad = await patch<ErrorBody>(g, us.facilityId, { aeTitleAliases: [{ aeTitle: 'BACK\\SLASH' }] });
    expect(bad.status).toBe(400);

    expect((await patch(g, us.facilityId, { aeTitleAliases: [{ aeTitle: 'US0' }] })).status).toBe(200);
    const taken = await patch<ErrorBody>(g, them.facilityId, { aeTitleAliases: [{ aeTitle: 'US0' }] });
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toBe('AE title alias "US0" is already an alias of facility "US wing"');
    const retitle = await patch<ErrorBody>(g, them.facilityId, { aeTitle: 'US0' });
    expect(retitle.status).toBe(409);
    expect(retitle.body.error.message).toBe(
      'AE title "US0" is still accepted as an alias by facility "US wing" until it expires',
    );
    // Another group's titles are theirs: no clash across groups.
    const elsewhere = await seedFacility(t, other, { name: 'Elsewhere', aeTitle: 'ELSE1' });
    expect((await patch(other, elsewhere.facilityId, { aeTitleAliases: [{ aeTitle: 'US0' }] })).status).toBe(
      200,
    );
  });

  it('gives a reader 403 and another group’s admin 404', async () => {
    const f = await seedFacility(t, g, { name: 'XA wing', aeTitle: 'XA1' });
    const body = { aeTitleAliases: [{ aeTitle: 'XA0' }] };
    const reader = await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.reader.token,
      body,
    });
    expect(reader.status).toBe(403);
    expect((await patch(other, f.facilityId, body)).status).toBe(404);
  });
});

describe.each(BACKENDS)('facility AE title aliases: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'PATCH',
    path: (ids: { facilityId: string }) => `/api/v1/facilities/${ids.facilityId}`,
    body: { aeTitleAliases: [{ aeTitle: 'OLD_SEC' }] },
    caller: 'admin',
    resourceOfGroup: seedFacility,
  });
});
