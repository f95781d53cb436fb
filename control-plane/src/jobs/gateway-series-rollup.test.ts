import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { healthReport } from '../../../testkit/control-plane/seed-gateway-status.js';
import type { Ctx } from '../context.js';
import { gatewaySeries } from '../db/schema/index.js';
import { getGatewaySeries } from '../services/get-gateway-series.js';
import { listFleetSparklines } from '../services/list-fleet-sparklines.js';
import { openGatewayChannel } from '../services/open-gateway-channel.js';
import { recordHeartbeat } from '../services/record-heartbeat.js';
import { rollUpAndPruneSeries } from './gateway-series-rollup.js';

const log = pino({ level: 'silent' });

describe.each(BACKENDS)('gateway series (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let gw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Series group');
    other = await t.seedGroup('Other series group');
    gw = await enrollTestGateway(t, g);
  });
  afterAll(async () => {
    await t?.close();
  });

  const agentCtx = (x: TestGateway): Ctx => ({
    db: t.database.db,
    actor: { kind: 'agent', gatewayId: x.gatewayId, groupId: x.groupId, facilityId: x.facilityId },
    requestId: 'test',
    ip: undefined,
    log,
  });
  const userCtx = (group: SeededGroup): Ctx => ({
    db: t.database.db,
    actor: {
      kind: 'user',
      userId: group.reader.id,
      groupId: group.groupId,
      role: 'reader',
      isOperator: false,
    },
    requestId: 'test',
    ip: undefined,
    log,
  });
  const rows = (gatewayId: string, resolution: 'minute' | 'hour') =>
    t.database.db
      .select()
      .from(gatewaySeries)
      .where(and(eq(gatewaySeries.gatewayId, gatewayId), eq(gatewaySeries.resolution, resolution)))
      .orderBy(gatewaySeries.bucket);
  const insertRow = (gatewayId: string, resolution: 'minute' | 'hour', bucket: Date, over = {}) =>
    t.database.db.insert(gatewaySeries).values({
      gatewayId,
      resolution,
      bucket,
      samples: 1,
      received: 6,
      delivered: 3,
      backlogCount: 10,
      backlogCountMax: 10,
      latencyMsSum: 300,
      latencyCount: 3,
      ...over,
    });

  it('folds each heartbeat into its minute bucket in the heartbeat statement, and a stale channel writes nothing', async () => {
    const x = await enrollTestGateway(t, g);
    const channelId = randomUUID();
    await openGatewayChannel({
      ctx: agentCtx(x),
      input: { channelId, replicaId: 'r1', heartbeatSeconds: 30, agentVersion: '1.0.0' },
    });
    const beat = (over: { received: number; delivered: number; latency: number | null; pending: number }) =>
      healthReport({
        spool: {
          pendingCount: over.pending,
          pendingBytes: over.pending * 1000,
          oldestUnsentAt: new Date(Date.now() - 90_000).toISOString(),
        },
        upload: {
          bytesPerSecond: 0,
          objectsDelivered: over.delivered,
          errors: 0,
          lastError: null,
          deliveryLatencyMs: over.latency,
        },
        dicom: { ...healthReport().dicom, instancesReceived: over.received },
      });
    // Two heartbeats in (very likely) one minute; a minute boundary between them splits them, so sum all rows.
    await recordHeartbeat({
      ctx: agentCtx(x),
      input: { channelId, health: beat({ received: 5, delivered: 2, latency: 1000, pending: 7 }) },
    });
    await recordHeartbeat({
      ctx: agentCtx(x),
      input: { channelId, health: beat({ received: 1, delivered: 2, latency: 3000, pending: 4 }) },
    });
    const stale = await recordHeartbeat({
      ctx: agentCtx(x),
      input: {
        channelId: randomUUID(),
        health: beat({ received: 100, delivered: 100, latency: 1, pending: 100 }),
      },
    });
    expect(stale).toEqual({ stale: true });
    const minute = await rows(x.gatewayId, 'minute');
    expect(minute.reduce((n, r) => n + r.samples, 0)).toBe(2);
    expect(minute.reduce((n, r) => n + r.received, 0)).toBe(6);
    expect(minute.reduce((n, r) => n + r.delivered, 0)).toBe(4);
    expect(minute.reduce((n, r) => n + r.latencyMsSum, 0)).toBe(8000);
    expect(minute.reduce((n, r) => n + r.latencyCount, 0)).toBe(4);
    const last = minute.at(-1);
    expect(last?.backlogCount).toBe(4);
    expect(Math.max(...minute.map((r) => r.backlogCountMax))).toBe(7);
    expect(last?.oldestUnsentSeconds).toBeGreaterThanOrEqual(89);

    const series = await getGatewaySeries({
      ctx: userCtx(g),
      input: { gatewayId: x.gatewayId, range: '1h' },
    });
    expect(series.points.reduce((n, p) => n + p.receivedPerMinute, 0)).toBe(6);
    const latencies = series.points.map((p) => p.latencyMs).filter((l) => l !== null);
    expect(latencies.length).toBeGreaterThan(0);
  });

  it('rolls minute buckets into hour buckets (sums, last level, worst age) and does it idempotently', async () => {
    const x = await enrollTestGateway(t, g);
    const hour = new Date(Math.floor(Date.now() / 3600_000) * 3600_000 - 3600_000);
    await insertRow(x.gatewayId, 'minute', new Date(hour.getTime() + 60_000), { oldestUnsentSeconds: 50 });
    await insertRow(x.gatewayId, 'minute', new Date(hour.getTime() + 120_000), {
      backlogCount: 2,
      backlogCountMax: 12,
      backlogBytes: 2048,
      oldestUnsentSeconds: 20,
      latencyMsSum: 900,
    });
    await rollUpAndPruneSeries(t.database.db);
    await rollUpAndPruneSeries(t.database.db);
    const [h, ...more] = await rows(x.gatewayId, 'hour');
    expect(more).toEqual([]);
    expect(h).toMatchObject({
      bucket: hour,
      samples: 2,
      received: 12,
      delivered: 6,
      backlogCount: 2,
      backlogCountMax: 12,
      backlogBytes: 2048,
      oldestUnsentSeconds: 50,
      latencyMsSum: 1200,
      latencyCount: 6,
    });
    const week = await getGatewaySeries({ ctx: userCtx(g), input: { gatewayId: x.gatewayId, range: '7d' } });
    expect(week.points).toHaveLength(1);
    expect(week.points[0]?.receivedPerMinute).toBeCloseTo(12 / 60);
    expect(week.points[0]?.latencyMs).toBe(200);
  });

  it('prunes minute buckets past 24 hours and hour buckets past 7 days, keeping the rest', async () => {
    const x = await enrollTestGateway(t, g);
    const now = new Date();
    const ago = (ms: number) => new Date(Math.floor((now.getTime() - ms) / 60_000) * 60_000);
    await insertRow(x.gatewayId, 'minute', ago(25 * 3600_000));
    await insertRow(x.gatewayId, 'minute', ago(23 * 3600_000));
    await insertRow(
      x.gatewayId,
      'hour',
      new Date(Math.floor((now.getTime() - 8 * 86400_000) / 3600_000) * 3600_000),
    );
    await insertRow(
      x.gatewayId,
      'hour',
      new Date(Math.floor((now.getTime() - 6 * 86400_000) / 3600_000) * 3600_000),
    );
    const { pruned } = await rollUpAndPruneSeries(t.database.db, now);
    expect(pruned).toBeGreaterThanOrEqual(2);
    expect((await rows(x.gatewayId, 'minute')).map((r) => r.bucket)).toEqual([ago(23 * 3600_000)]);
    expect(await rows(x.gatewayId, 'hour')).toHaveLength(1);
  });

  it("never shows another group's gateway: its series is not found and its sparkline is left out", async () => {
    await insertRow(gw.gatewayId, 'minute', new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000));
    await expect(
      getGatewaySeries({ ctx: userCtx(other), input: { gatewayId: gw.gatewayId, range: '24h' } }),
    ).rejects.toMatchObject({ code: 'resource.not_found' });
    expect(
      (await listFleetSparklines({ ctx: userCtx(other), input: { gatewayIds: [gw.gatewayId] } })).size,
    ).toBe(0);
    const own = await listFleetSparklines({ ctx: userCtx(g), input: { gatewayIds: [gw.gatewayId] } });
    expect(own.get(gw.gatewayId)?.[0]?.deliveredPerMinute).toBeCloseTo(3 / 60);
  });
});
