import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, webhookDeliveries, webhooks } from '../db/schema/index.js';
import { BACKENDS, createTestApp, type SeededGroup, type TestApp, unknownId } from '../testing/harness.js';
import { runCommonRouteTests } from '../testing/security-suite.js';

interface WebhookBody {
  id: string;
  url: string;
  degradedAfterSeconds: number;
  createdAt: string;
  secret?: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(BACKENDS)('webhooks routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Webhooks group');
    other = await t.seedGroup('Other group');
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = (group: SeededGroup, body: unknown, token = group.admin.token) =>
    t.request<WebhookBody & ErrorBody>('POST', '/api/v1/webhooks', { token, body });

  it('creates a webhook, shows its secret once, lists it without, deletes it with its deliveries; audited', async () => {
    const res = await create(g, { url: 'https://alerts.example.org/ferry?team=radiology' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      url: 'https://alerts.example.org/ferry?team=radiology',
      degradedAfterSeconds: 300,
    });
    expect(res.body.secret).toMatch(/^whsec_[\w-]{43}$/);
    const [stored] = await t.database.db.select().from(webhooks).where(eq(webhooks.id, res.body.id));
    expect(stored?.secret).toBe(res.body.secret);

    const list = await t.request<{ webhooks: WebhookBody[] }>('GET', '/api/v1/webhooks', {
      token: g.admin.token,
    });
    expect(list.status).toBe(200);
    expect(list.body.webhooks).toEqual([
      { id: res.body.id, url: res.body.url, degradedAfterSeconds: 300, createdAt: res.body.createdAt },
    ]);
    expect(list.text).not.toContain(res.body.secret!);
    const theirs = await t.request<{ webhooks: WebhookBody[] }>('GET', '/api/v1/webhooks', {
      token: other.admin.token,
    });
    expect(theirs.body.webhooks).toEqual([]);

    await t.database.db.insert(webhookDeliveries).values({
      webhookId: res.body.id,
      groupId: g.groupId,
      eventKey: 'gateway.offline:test',
      eventType: 'gateway.offline',
      payload: { id: 'gateway.offline:test' },
    });
    const deliveries = await t.request<{ deliveries: { eventKey: string; attempts: number }[] }>(
      'GET',
      `/api/v1/webhooks/${res.body.id}/deliveries`,
      { token: g.admin.token },
    );
    expect(deliveries.body.deliveries).toMatchObject([{ eventKey: 'gateway.offline:test', attempts: 0 }]);

    const del = await t.request('DELETE', `/api/v1/webhooks/${res.body.id}`, { token: g.admin.token });
    expect(del.status).toBe(204);
    expect(
      await t.database.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.webhookId, res.body.id)),
    ).toEqual([]);
    const gone = await t.request('DELETE', `/api/v1/webhooks/${res.body.id}`, { token: g.admin.token });
    expect(gone.status).toBe(404);

    const audits = await t.database.db
      .select({ action: auditLog.action, details: auditLog.details })
      .from(auditLog)
      .where(and(eq(auditLog.groupId, g.groupId), eq(auditLog.targetId, res.body.id)))
      .orderBy(auditLog.id);
    expect(audits.map((a) => a.action)).toEqual(['webhook.create', 'webhook.delete']);
    expect(JSON.stringify(audits)).not.toContain(res.body.secret!);
  });

  it('takes degradedAfterSeconds from 10 to 86400', async () => {
    const ok = await create(g, { url: 'http://127.0.0.1:9/hook', degradedAfterSeconds: 10 });
    expect(ok.status).toBe(201);
    expect(ok.body.degradedAfterSeconds).toBe(10);
    for (const bad of [9, 86_401, 1.5]) {
      const res = await create(g, { url: 'http://127.0.0.1:9/hook', degradedAfterSeconds: bad });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^degradedAfterSeconds: /);
    }
  });

  it.each([
    ['ftp://example.org/x'],
    ['not a url'],
    ['https://user:pass@example.org/x'],
    ['javascript:alert(1)'],
  ])('refuses url %j with a 400 naming the field', async (url) => {
    const res = await create(g, { url });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('request.invalid');
    expect(res.body.error.message).toMatch(/^url: /);
  });

  it('refuses unknown fields, readers, and another group’s webhook', async () => {
    const extra = await create(g, { url: 'https://example.org/x', secret: 'mine' });
    expect(extra.status).toBe(400);
    const reader = await create(g, { url: 'https://example.org/x' }, g.reader.token);
    expect(reader.status).toBe(403);
    const readerList = await t.request('GET', '/api/v1/webhooks', { token: g.reader.token });
    expect(readerList.status).toBe(403);
    const theirs = await create(other, { url: 'https://example.org/theirs' });
    for (const [method, path] of [
      ['DELETE', `/api/v1/webhooks/${theirs.body.id}`],
      ['GET', `/api/v1/webhooks/${theirs.body.id}/deliveries`],
      ['GET', `/api/v1/webhooks/${unknownId()}/deliveries`],
    ] as const) {
      const res = await t.request<ErrorBody>(method, path, { token: g.admin.token });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource.not_found');
    }
    const still = await t.request<{ webhooks: WebhookBody[] }>('GET', '/api/v1/webhooks', {
      token: other.admin.token,
    });
    expect(still.body.webhooks.map((w) => w.id)).toContain(theirs.body.id);
  });
});

describe.each(BACKENDS)('webhooks routes: common security (%s)', (backend) => {
  const webhookOf = async (t: TestApp, g: SeededGroup) => {
    const [row] = await t.database.db
      .insert(webhooks)
      .values({ groupId: g.groupId, url: 'https://example.org/hook', secret: 'whsec_test' })
      .returning({ id: webhooks.id });
    return { webhookId: row!.id };
  };
  runCommonRouteTests(backend, {
    method: 'POST',
    path: '/api/v1/webhooks',
    body: { url: 'https://example.org/security' },
    caller: 'admin',
    resourceOfGroup: webhookOf,
    okStatus: 201,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: '/api/v1/webhooks',
    caller: 'admin',
    resourceOfGroup: webhookOf,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/webhooks/${ids.webhookId}/deliveries`,
    caller: 'admin',
    resourceOfGroup: webhookOf,
  });
  runCommonRouteTests(backend, {
    method: 'DELETE',
    path: (ids) => `/api/v1/webhooks/${ids.webhookId}`,
    caller: 'admin',
    resourceOfGroup: webhookOf,
    okStatus: 204,
  });
});
