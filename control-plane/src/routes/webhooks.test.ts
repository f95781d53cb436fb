import { and, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { type Ctx, systemCtx } from '../context.js';
import { auditLog, users, webhookDeliveries, webhooks } from '../db/schema/index.js';
import { userActor } from '../edge/auth-middleware.js';
import { createWebhook } from '../services/create-webhook.js';
import { WEBHOOK_SECRET_PURPOSE } from '../webhooks/signature.js';

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
    // Stored sealed with the key file's key (issue 13): the row alone does not sign a delivery.
    expect(stored?.secret).not.toContain(res.body.secret?.slice('whsec_'.length));
    expect(t.deps.secretBox.open(stored?.secret ?? '', WEBHOOK_SECRET_PURPOSE)).toBe(res.body.secret);

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
    const ok = await create(g, { url: 'https://alerts.example.org/hook', degradedAfterSeconds: 10 });
    expect(ok.status).toBe(201);
    expect(ok.body.degradedAfterSeconds).toBe(10);
    for (const bad of [9, 86_401, 1.5]) {
      const res = await create(g, { url: 'https://alerts.example.org/hook', degradedAfterSeconds: bad });
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

  it.each([
    ['http://127.0.0.1:9/hook', 'a loopback address'],
    ['http://0x7f000001/hook', 'a loopback address'],
    ['http://2130706433/hook', 'a loopback address'],
    ['http://[::1]/hook', 'a loopback address'],
    ['http://[::ffff:127.0.0.1]/hook', 'a loopback address'],
    ['http://localhost:8080/hook', 'a loopback address'],
    ['https://10.0.0.5/hook', 'a private network address'],
    ['https://172.16.3.4/hook', 'a private network address'],
    ['https://192.168.1.20/hook', 'a private network address'],
    ['https://[::ffff:192.168.1.20]/hook', 'a private network address'],
    ['https://100.64.0.9/hook', 'a carrier-grade NAT address'],
    ['https://[fd12:3456::1]/hook', 'a unique-local (private) IPv6 address'],
    ['http://169.254.169.254/latest/meta-data/', 'a cloud metadata address'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'a cloud metadata address'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'a cloud metadata address'],
    ['http://169.254.10.10/hook', 'a link-local address'],
    ['http://[fe80::1]/hook', 'a link-local address'],
    ['http://0.0.0.0/hook', 'an unspecified address'],
  ])('refuses %s (400 webhook.url_not_allowed, naming %s)', async (url, label) => {
    const res = await create(g, { url });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('webhook.url_not_allowed');
    expect(res.body.error.message).toContain(label);
  });

  it('refuses a name that resolves to a private address, and accepts one that does not resolve yet', async () => {
    const [admin] = await t.database.db.select().from(users).where(eq(users.id, g.admin.id));
    const ctx: Ctx = {
      ...systemCtx(t.database.db, pino({ level: 'silent' }), 'webhook-dns'),
      actor: userActor(admin!),
    };
    const lookup = async (host: string) => {
      if (host === 'hooks.corp.example')
        return [
          { address: '8.8.8.8', family: 4 },
          { address: '10.1.2.3', family: 4 },
        ];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    const input = { allowPrivateAddresses: false, lookup };
    await expect(
      createWebhook({
        ctx,
        deps: { secrets: t.deps.secretBox },
        input: { ...input, url: 'https://hooks.corp.example/x' },
      }),
    ).rejects.toMatchObject({
      code: 'webhook.url_not_allowed',
      message: expect.stringContaining('resolves to a private network address'),
    });
    const later = await createWebhook({
      ctx,
      deps: { secrets: t.deps.secretBox },
      input: { ...input, url: 'https://not-yet.example/x' },
    });
    expect(later.url).toBe('https://not-yet.example/x');
    // An on-prem install allows its own network, never the metadata service.
    const onPrem = { ...input, allowPrivateAddresses: true };
    expect(
      (
        await createWebhook({
          ctx,
          deps: { secrets: t.deps.secretBox },
          input: { ...onPrem, url: 'https://hooks.corp.example/y' },
        })
      ).url,
    ).toBe('https://hooks.corp.example/y');
    await expect(
      createWebhook({
        ctx,
        deps: { secrets: t.deps.secretBox },
        input: { ...onPrem, url: 'http://169.254.169.254/' },
      }),
    ).rejects.toMatchObject({ code: 'webhook.url_not_allowed' });
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
