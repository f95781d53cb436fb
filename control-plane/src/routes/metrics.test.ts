import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway } from '../../../testkit/control-plane/channel-client.js';
import {
  type ChannelServer,
  serveTestAppWithChannel,
} from '../../../testkit/control-plane/channel-server.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { healthReport, seedGatewayStatus } from '../../../testkit/control-plane/seed-gateway-status.js';
import { gatewaySeries } from '../db/schema/index.js';

const TOKEN = 'scrape-token-0123456789abcdef';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text exposition format, read line by line as a scraper does (HELP/TYPE, samples). */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

describe.each(BACKENDS)('/metrics (%s)', (backend) => {
  let t: TestApp;
  let off: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;
  let gw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend);
    off = await createTestApp(backend);
    t.deps.metricsToken = TOKEN;
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Metrics group');
    gw = await enrollTestGateway(t, g, { hostname: 'gw-metrics' });
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
    await off?.close();
  });

  const scrape = (auth?: string) =>
    fetch(`${server.url}/metrics`, { headers: auth ? { authorization: auth } : {} });

  it('is off (404, saying how to turn it on) without FERRY_METRICS_TOKEN', async () => {
    const res = await off.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
    expect(res.text).toContain('FERRY_METRICS_TOKEN');
  });

  it('answers 401 without a bearer token and 403 with a wrong one, with the error shape', async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('auth.missing_token');
    const wrong = await scrape(`Bearer ${TOKEN}x`);
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('auth.forbidden');
    // A user's session token is not the scrape token either.
    expect((await scrape(`Bearer ${g.admin.token}`)).status).toBe(403);
  });

  it('serves per-gateway and control-plane figures in the text format over a real HTTP request', async () => {
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'online',
      health: healthReport({ spool: { pendingCount: 7, pendingBytes: 7000 } }),
    });
    await t.database.db.insert(gatewaySeries).values({
      gatewayId: gw.gatewayId,
      resolution: 'minute',
      bucket: new Date(Math.floor(Date.now() / 60_000) * 60_000),
      samples: 1,
      received: 50,
      delivered: 25,
      latencyMsSum: 25 * 2000,
      latencyCount: 25,
    });
    const { client } = await connectGateway(server.channelUrl, gw);
    try {
      const got = await fetch(`${server.url}/api/v1/gateways/${gw.gatewayId}`, {
        headers: { authorization: `Bearer ${g.admin.token}` },
      });
      expect(got.status).toBe(200);
      const res = await scrape(`Bearer ${TOKEN}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const { samples, types } = parseExposition(await res.text());
      const one = (name: string, labels: Record<string, string> = {}) =>
        samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      const mine = { gateway_id: gw.gatewayId };
      expect(one('ferry_gateway_backlog_objects', mine)[0]?.labels).toMatchObject({
        gateway_id: gw.gatewayId,
        facility: expect.any(String),
        gateway: expect.any(String),
      });
      expect(one('ferry_gateway_backlog_objects', mine)[0]?.value).toBe(7);
      expect(one('ferry_gateway_status', { ...mine, status: 'online' })[0]?.value).toBe(1);
      expect(one('ferry_gateway_status', { ...mine, status: 'offline' })[0]?.value).toBe(0);
      expect(one('ferry_gateway_received_per_minute', mine)[0]?.value).toBe(10);
      expect(one('ferry_gateway_delivery_latency_seconds', mine)[0]?.value).toBe(2);
      expect(one('ferry_channel_connections')[0]?.value).toBe(1);
      expect(types.get('ferry_http_requests_total')).toBe('counter');
      expect(types.get('ferry_http_request_duration_seconds')).toBe('histogram');
      // Route patterns, not raw paths: the label set stays bounded and carries no ids.
      expect(
        one('ferry_http_requests_total', { route: '/api/v1/gateways/:id', status: '200' })[0]?.value,
      ).toBeGreaterThan(0);
      expect(samples.some((s) => s.labels.route?.includes(gw.gatewayId))).toBe(false);
      // Refused scrapes are counted with their status too.
      expect(
        one('ferry_http_requests_total', { route: '/metrics', status: '403' })[0]?.value,
      ).toBeGreaterThan(0);
      expect(one('ferry_studies_receiving')).toHaveLength(1);
      expect(one('ferry_upload_bytes_1h')).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});
