import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import {
  condition,
  healthReport,
  seedGatewayEvent,
  seedGatewayStatus,
} from '../../../testkit/control-plane/seed-gateway-status.js';
import { systemCtx } from '../context.js';
import { webhookDeliveries, webhooks } from '../db/schema/index.js';
import { startWebhookDelivery } from '../jobs/webhook-delivery.js';
import { verifyWebhookSignature } from '../webhooks/signature.js';
import { deliverWebhooks, WEBHOOK_MAX_ATTEMPTS } from './deliver-webhooks.js';
import { enqueueWebhookDeliveries } from './enqueue-webhook-deliveries.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real receiver on 127.0.0.1: answers each path with the next planned status (default 200). */
class Receiver {
  server!: Server;
  received = new Map<string, Received[]>();
  plans = new Map<string, (number | 'hang')[]>();
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const list = this.received.get(path) ?? [];
        list.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        this.received.set(path, list);
        const next = this.plans.get(path)?.shift() ?? 200;
        if (next === 'hang') return; // never answers: the sender's timeout must fire
        res.writeHead(next, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  at(path: string): Received[] {
    return this.received.get(path) ?? [];
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface DeliveryBody {
  id: string;
  type: string;
  occurredAt: string;
  group: { id: string };
  gateway: { id: string; hostname: string; facility: { id: string; name: string; aeTitle: string } };
  status: { from: string; to: string };
  conditions: { code: string }[];
  degradedSince?: string;
}

let hookN = 0;

describe.each(BACKENDS)('webhook delivery against a real receiver (%s)', (backend) => {
  let t: TestApp;
  let rx: Receiver;
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    // The receiver listens on 127.0.0.1: allowed only as an on-prem install allows it.
    t = await createTestApp(backend, { webhookAllowPrivate: true });
    rx = new Receiver();
    await rx.start();
  });
  afterAll(async () => {
    await rx?.stop();
    await t?.close();
  });

  const ctx = () => systemCtx(t.database.db, log, 'webhook-test');
  const enqueue = () => enqueueWebhookDeliveries({ ctx: ctx() });
  const deliver = (input: Parameters<typeof deliverWebhooks>[0]['input'] = {}) =>
    deliverWebhooks({
      ctx: ctx(),
      input: { allowPrivateAddresses: true, ...input },
      deps: { secrets: t.deps.secretBox },
    });

  /** A fresh group with one gateway and a webhook pointing at its own receiver path. */
  async function setup(degradedAfterSeconds = 10) {
    const g: SeededGroup = await t.seedGroup(`Webhook group ${++hookN}`);
    const gw = await enrollTestGateway(t, g, { hostname: `ct-${hookN}` });
    const path = `/hook/${hookN}`;
    const res = await t.request<{ id: string; secret: string }>('POST', '/api/v1/webhooks', {
      token: g.admin.token,
      body: { url: `${rx.url}${path}`, degradedAfterSeconds },
    });
    expect(res.status, res.text).toBe(201);
    const status = (from: string, to: string, at?: Date) =>
      seedGatewayEvent(t.database.db, {
        groupId: g.groupId,
        gatewayId: gw.gatewayId,
        type: 'status',
        details: { from, to, conditions: [] },
        ...(at ? { at } : {}),
      });
    const rows = () =>
      t.database.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.webhookId, res.body.id))
        .orderBy(webhookDeliveries.createdAt);
    return { g, gw, path, hook: res.body, status, rows };
  }

  it('sends one signed JSON delivery per offline event, however often enqueue runs and on two replicas', async () => {
    const s = await setup();
    const eventId = await s.status('online', 'offline');
    expect((await enqueue()).enqueued).toBeGreaterThanOrEqual(1);
    expect((await s.rows()).length).toBe(1);
    // Two replicas at once: enqueue and deliver twice concurrently.
    await Promise.all([enqueue().then(() => deliver()), enqueue().then(() => deliver())]);
    await enqueue();
    await deliver();

    const got = rx.at(s.path);
    expect(got).toHaveLength(1);
    const { headers, body } = got[0]!;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['ferry-event']).toBe('gateway.offline');
    expect(headers['ferry-delivery']).toBe(`gateway.offline:${eventId}`);
    expect(
      verifyWebhookSignature({ secret: s.hook.secret, body, header: headers['ferry-signature'] as string }),
    ).toBe(true);
    expect(
      verifyWebhookSignature({ secret: 'whsec_wrong', body, header: headers['ferry-signature'] as string }),
    ).toBe(false);
    const parsed = JSON.parse(body) as DeliveryBody;
    expect(parsed).toMatchObject({
      id: `gateway.offline:${eventId}`,
      type: 'gateway.offline',
      group: { id: s.g.groupId },
      gateway: { id: s.gw.gatewayId, hostname: `ct-${hookN}`, facility: { id: s.gw.facilityId } },
      status: { from: 'online', to: 'offline' },
      conditions: [],
    });
    expect(new Date(parsed.occurredAt).toISOString()).toBe(parsed.occurredAt);
    const [row] = await s.rows();
    expect(row).toMatchObject({ attempts: 1, failedAt: null, lastError: null });
    expect(row!.deliveredAt).not.toBeNull();

    const listed = await t.request<{
      deliveries: { eventType: string; attempts: number; deliveredAt: string }[];
    }>('GET', `/api/v1/webhooks/${s.hook.id}/deliveries`, { token: s.g.admin.token });
    expect(listed.body.deliveries).toMatchObject([{ eventType: 'gateway.offline', attempts: 1 }]);
  });

  it('announces recovery from offline, and from degraded only after a degraded stretch past the threshold', async () => {
    const s = await setup(10);
    // The webhook existed a minute ago, so this story of the last seconds counts.
    await t.database.db
      .update(webhooks)
      .set({ createdAt: new Date(Date.now() - 60_000) })
      .where(eq(webhooks.id, s.hook.id));
    const now = Date.now();
    // Offline → online: recovered.
    await s.status('online', 'offline', new Date(now - 5000));
    await s.status('offline', 'online', new Date(now - 4000));
    // A 1 s degraded blip: no alert for its end.
    await s.status('online', 'degraded', new Date(now - 3000));
    await s.status('degraded', 'online', new Date(now - 2000));
    await enqueue();
    const types = (await s.rows()).map((r) => r.eventType).sort();
    expect(types).toEqual(['gateway.offline', 'gateway.recovered']);

    // Degraded for 20 s (since before the webhook existed), then online: recovered.
    const s2 = await setup(10);
    await s2.status('online', 'degraded', new Date(Date.now() - 20_000));
    await s2.status('degraded', 'online');
    await enqueue();
    expect((await s2.rows()).map((r) => [r.eventType, (r.payload as { status: unknown }).status])).toEqual([
      ['gateway.recovered', { from: 'degraded', to: 'online' }],
    ]);
  });

  it('raises gateway.degraded once per episode past the threshold, with the conditions', async () => {
    const s = await setup(10);
    const health = healthReport({ conditions: [condition('upload.stalled', 'warning')] });
    await seedGatewayStatus(t.database.db, s.gw.gatewayId, {
      status: 'degraded',
      statusSince: new Date(Date.now() - 5000),
      health,
    });
    await enqueue();
    expect(await s.rows()).toEqual([]); // 5 s < 10 s

    const since = new Date(Date.now() - 15_000);
    await s.status('online', 'degraded', since);
    await seedGatewayStatus(t.database.db, s.gw.gatewayId, {
      status: 'degraded',
      statusSince: since,
      health,
    });
    await enqueue();
    await enqueue();
    const rows = await s.rows();
    expect(rows.map((r) => r.eventType)).toEqual(['gateway.degraded']);
    expect(rows[0]!.payload).toMatchObject({
      type: 'gateway.degraded',
      status: { from: 'online', to: 'degraded' },
      degradedSince: since.toISOString(),
      occurredAt: new Date(since.getTime() + 10_000).toISOString(),
      conditions: [{ code: 'upload.stalled', severity: 'warning' }],
    });
    // A new episode (another status_since) is news again.
    await seedGatewayStatus(t.database.db, s.gw.gatewayId, {
      status: 'degraded',
      statusSince: new Date(Date.now() - 12_000),
      health,
    });
    await enqueue();
    expect((await s.rows()).map((r) => r.eventType)).toEqual(['gateway.degraded', 'gateway.degraded']);
  });

  it('ignores events from before the webhook existed, of a revoked gateway, and of other groups', async () => {
    const s = await setup();
    await s.status('online', 'offline', new Date(Date.now() - 60_000));
    const other = await setup();
    await other.status('online', 'offline');
    const revoked = await setup();
    await revoked.gw.revoke();
    await revoked.status('online', 'offline');
    await enqueue();
    expect(await s.rows()).toEqual([]);
    expect(await revoked.rows()).toEqual([]);
    expect((await other.rows()).map((r) => r.eventType)).toEqual(['gateway.offline']);
  });

  it('retries a 500 and a receiver that does not answer with backoff, and gives up after the last attempt', async () => {
    const s = await setup();
    rx.plans.set(s.path, [500, 'hang']);
    await s.status('online', 'offline');
    await enqueue();
    const mine = async () => (await s.rows())[0]!;

    await deliver();
    let row = await mine();
    expect(row).toMatchObject({ attempts: 1, lastError: 'HTTP 500', deliveredAt: null, failedAt: null });
    expect(row.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 3000); // about 5 s later
    await deliver(); // not due yet
    expect(rx.at(s.path)).toHaveLength(1);

    const due = () =>
      t.database.db
        .update(webhookDeliveries)
        .set({ nextAttemptAt: sql`now() - interval '1 second'` })
        .where(eq(webhookDeliveries.id, row.id));
    await due();
    await deliver({ timeoutMs: 300 });
    row = await mine();
    expect(row).toMatchObject({ attempts: 2, lastError: 'timed out', deliveredAt: null });
    expect(row.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 20_000); // about 30 s later

    await due();
    await deliver();
    row = await mine();
    expect(row).toMatchObject({ attempts: 3, lastError: null, failedAt: null });
    expect(row.deliveredAt).not.toBeNull();
    expect(rx.at(s.path)).toHaveLength(3);
    const bodies = new Set(rx.at(s.path).map((r) => r.body));
    expect(bodies.size).toBe(1); // the same event each time

    const s2 = await setup();
    rx.plans.set(s2.path, [503]);
    await s2.status('online', 'offline');
    await enqueue();
    const [r2] = await s2.rows();
    await t.database.db
      .update(webhookDeliveries)
      .set({ attempts: WEBHOOK_MAX_ATTEMPTS - 1 })
      .where(eq(webhookDeliveries.id, r2!.id));
    await deliver();
    const [given] = await s2.rows();
    expect(given).toMatchObject({ attempts: WEBHOOK_MAX_ATTEMPTS, lastError: 'HTTP 503', deliveredAt: null });
    expect(given!.failedAt).not.toBeNull();
    await t.database.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: sql`now() - interval '1 second'` })
      .where(eq(webhookDeliveries.id, r2!.id));
    await deliver();
    expect(rx.at(s2.path)).toHaveLength(1);
  });

  it('runs as a job: an offline event reaches the receiver within a few ticks', async () => {
    const s = await setup();
    const job = startWebhookDelivery({
      db: t.database.db,
      log,
      secrets: t.deps.secretBox,
      intervalMs: 50,
      allowPrivateAddresses: true,
    });
    try {
      await s.status('online', 'offline');
      const until = Date.now() + 5000;
      while (rx.at(s.path).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    } finally {
      await job.stop();
    }
    expect(rx.at(s.path).map((r) => r.headers['ferry-event'])).toEqual(['gateway.offline']);
  });

  /** Points a webhook somewhere else directly in the database (as if created under other settings). */
  const pointAt = (hookId: string, url: string) =>
    t.database.db.update(webhooks).set({ url }).where(eq(webhooks.id, hookId));
  const port = () => new URL(rx.url).port;

  it('without FERRY_WEBHOOK_ALLOW_PRIVATE refuses a loopback receiver at creation and at delivery', async () => {
    const strict = await createTestApp(backend);
    try {
      const g = await strict.seedGroup();
      for (const url of [
        `${rx.url}/hook/strict`,
        `http://localhost:${port()}/hook`,
        `http://[::ffff:127.0.0.1]:${port()}/hook`,
        'http://169.254.169.254/latest/meta-data/',
      ]) {
        const res = await strict.request<{ error: { code: string; message: string } }>(
          'POST',
          '/api/v1/webhooks',
          {
            token: g.admin.token,
            body: { url },
          },
        );
        expect(res.status, url).toBe(400);
        expect(res.body.error.code).toBe('webhook.url_not_allowed');
        expect(res.body.error.message).toMatch(/^url: .* (is|resolves to) an? [a-z -]+ address; /);
      }
      expect(await strict.database.db.select().from(webhooks).where(eq(webhooks.groupId, g.groupId))).toEqual(
        [],
      );
    } finally {
      await strict.close();
    }

    // A webhook made while the flag was on: delivery checks again and sends nothing.
    const s = await setup();
    await s.status('online', 'offline');
    await enqueue();
    await deliver({ allowPrivateAddresses: false });
    expect(rx.at(s.path)).toEqual([]);
    expect((await s.rows())[0]).toMatchObject({
      attempts: 1,
      lastError: 'address not allowed',
      deliveredAt: null,
    });
  });

  it('checks every address a name resolves to, and never allows cloud metadata', async () => {
    const s = await setup();
    await pointAt(s.hook.id, `http://hook.mixed.test:${port()}${s.path}`);
    await s.status('online', 'offline');
    await enqueue();
    const due = () =>
      t.database.db
        .update(webhookDeliveries)
        .set({ nextAttemptAt: sql`now() - interval '1 second'` })
        .where(eq(webhookDeliveries.webhookId, s.hook.id));
    // One public and one loopback address: refused without the flag.
    await deliver({
      allowPrivateAddresses: false,
      lookup: async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    expect((await s.rows())[0]).toMatchObject({ attempts: 1, lastError: 'address not allowed' });
    // The metadata address, even with the flag, and in its IPv4-mapped IPv6 form.
    for (const address of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254']) {
      await due();
      await deliver({ lookup: async () => [{ address, family: address.includes(':') ? 6 : 4 }] });
      expect((await s.rows())[0]!.lastError, address).toBe('address not allowed');
    }
    expect(rx.at(s.path)).toEqual([]);
  });

  it('resolves once and connects to the address it checked, with the original Host', async () => {
    const s = await setup();
    await pointAt(s.hook.id, `http://hook.rebind.test:${port()}${s.path}`);
    await s.status('online', 'offline');
    await enqueue();
    let lookups = 0;
    // A rebinding resolver: the checked answer first, the metadata address on any later question.
    const lookup = async () => {
      lookups++;
      return [{ address: lookups === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }];
    };
    await deliver({ lookup });
    expect(lookups).toBe(1);
    const got = rx.at(s.path);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers.host).toBe(`hook.rebind.test:${port()}`);
    expect((await s.rows())[0]).toMatchObject({ attempts: 1, lastError: null });
  });

  it('shows admins a short reason for a failed delivery, and the detail only in the log', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const cases = [
      { url: `http://127.0.0.1:${closedPort}/gone`, reason: 'connection refused' },
      // The receiver speaks plain HTTP: the TLS handshake fails.
      { url: `https://127.0.0.1:${port()}/tls`, reason: 'TLS error' },
    ];
    const logged: { event?: string; error?: string; detail?: string }[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    for (const c of cases) {
      const s = await setup();
      await pointAt(s.hook.id, c.url);
      await s.status('online', 'offline');
      await enqueue();
      await deliverWebhooks({
        ctx: systemCtx(t.database.db, capture, 'webhook-test'),
        input: { allowPrivateAddresses: true },
        deps: { secrets: t.deps.secretBox },
      });
      const listed = await t.request<{ deliveries: { lastError: string | null }[] }>(
        'GET',
        `/api/v1/webhooks/${s.hook.id}/deliveries`,
        { token: s.g.admin.token },
      );
      expect(listed.body.deliveries.map((d) => d.lastError)).toEqual([c.reason]);
    }
    expect(logged.map((l) => [l.event, l.error])).toEqual(cases.map((c) => ['webhook.retry', c.reason]));
    expect(logged[0]!.detail).toContain('ECONNREFUSED');

    // A row stored by an earlier version with errno-level detail is shown as its reason.
    const s = await setup();
    await s.status('online', 'offline');
    await enqueue();
    await t.database.db
      .update(webhookDeliveries)
      .set({ attempts: 1, lastError: 'connect ECONNREFUSED 10.0.0.5:443' })
      .where(eq(webhookDeliveries.webhookId, s.hook.id));
    const listed = await t.request('GET', `/api/v1/webhooks/${s.hook.id}/deliveries`, {
      token: s.g.admin.token,
    });
    expect(listed.text).toContain('"lastError":"connection refused"');
    expect(listed.text).not.toMatch(/ECONNREFUSED|10\.0\.0\.5/);
  });
});
