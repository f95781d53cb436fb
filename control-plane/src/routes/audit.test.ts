import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';

interface Entry {
  id: number;
  at: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown> | null;
  requestId: string | null;
}
interface Page {
  entries: Entry[];
  nextBefore: number | null;
}

describe.each(BACKENDS)('audit route (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  const facilityIds: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Audited group');
    other = await t.seedGroup('Other group');
    for (const aeTitle of ['AUD1', 'AUD2', 'AUD3']) {
      const res = await t.request<{ id: string }>('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: `Facility ${aeTitle}`, aeTitle },
        headers: { 'x-request-id': `req-${aeTitle}-${backend}` },
      });
      facilityIds.push(res.body.id);
    }
    await t.request('PATCH', `/api/v1/facilities/${facilityIds[0]}`, {
      token: g.admin.token,
      body: { aeTitle: 'AUD9' },
    });
    await t.request('POST', '/api/v1/facilities', {
      token: other.admin.token,
      body: { name: 'Theirs', aeTitle: 'THEIRS' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists the group’s own entries, newest first, with who, what and the request id', async () => {
    const res = await t.request<Page>('GET', '/api/v1/audit', { token: g.admin.token });
    expect(res.status).toBe(200);
    const { entries } = res.body;
    expect(entries.map((e) => e.action)).toEqual([
      'facility.update',
      'facility.create',
      'facility.create',
      'facility.create',
    ]);
    expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((a, b) => b - a));
    expect(entries[0]).toMatchObject({
      actorType: 'user',
      actorId: g.admin.id,
      targetType: 'facility',
      targetId: facilityIds[0],
      details: { changes: { aeTitle: { from: 'AUD1', to: 'AUD9' } } },
    });
    expect(entries[3]).toMatchObject({ targetId: facilityIds[0], requestId: `req-AUD1-${backend}` });
    expect(new Date(entries[0]!.at).toISOString()).toBe(entries[0]!.at);
    expect(res.body.nextBefore).toBeNull();
  });

  it('filters by action and pages with limit and before', async () => {
    const created = await t.request<Page>('GET', '/api/v1/audit?action=facility.create&limit=2', {
      token: g.admin.token,
    });
    expect(created.body.entries.map((e) => e.targetId)).toEqual([facilityIds[2], facilityIds[1]]);
    expect(created.body.nextBefore).toBe(created.body.entries[1]!.id);
    const next = await t.request<Page>(
      `GET`,
      `/api/v1/audit?action=facility.create&limit=2&before=${created.body.nextBefore}`,
      { token: g.admin.token },
    );
    expect(next.body.entries.map((e) => e.targetId)).toEqual([facilityIds[0]]);
    expect(next.body.nextBefore).toBeNull();
  });

  it('never shows another group’s entries', async () => {
    const res = await t.request<Page>('GET', '/api/v1/audit', { token: other.admin.token });
    expect(res.body.entries.map((e) => e.details)).toEqual([
      { name: 'Theirs', aeTitle: 'THEIRS', stablePeriodSeconds: 60 },
    ]);
  });

  it('is for admins: readers get 403', async () => {
    const res = await t.request('GET', '/api/v1/audit', { token: g.reader.token });
    expect(res.status).toBe(403);
  });

  it('validates limit and before', async () => {
    for (const q of ['limit=0', 'limit=201', 'limit=ten', 'before=-1', 'before=1.5']) {
      const res = await t.request('GET', `/api/v1/audit?${q}`, { token: g.admin.token });
      expect(res.status, q).toBe(400);
    }
  });
});

describe.each(BACKENDS)('audit route: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/audit',
    caller: 'admin',
    // An audited change in each group: the other group's log must not mention it.
    resourceOfGroup: async (t, g) => {
      const res = await t.request<{ id: string }>('POST', '/api/v1/facilities', {
        token: g.admin.token,
        body: { name: `Audited ${g.groupId}`, aeTitle: 'AUDITED' },
      });
      return { facilityId: res.body.id };
    },
  });
});
