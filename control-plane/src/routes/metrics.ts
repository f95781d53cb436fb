import { createHash, timingSafeEqual } from 'node:crypto';
import { FerryError, isFerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppDeps } from '../app-deps.js';
import { systemCtx } from '../context.js';
import type { AppEnv } from '../edge/types.js';
import { type ControlPlaneFigures, collectMetrics } from '../services/collect-metrics.js';

/** Hash both sides first, so the comparison takes the same time whatever the presented token's length. */
function sameToken(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A bearer scrape token: absent is 401, wrong is 403; with FERRY_METRICS_TOKEN unset the endpoint does not exist. */
function checkScrapeToken(c: Context<AppEnv>, token: string | undefined): void {
  if (!token)
    throw new FerryError(
      'resource.not_found',
      'metrics are off: set FERRY_METRICS_TOKEN on the control plane',
    );
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1])
    throw new FerryError(
      'auth.missing_token',
      'send the scrape token as "Authorization: Bearer <FERRY_METRICS_TOKEN>"',
    );
  if (!sameToken(m[1], token))
    throw new FerryError('auth.forbidden', 'this is not the scrape token (FERRY_METRICS_TOKEN)');
}

const GATEWAY_LABELS = ['gateway_id', 'gateway', 'facility'] as const;

/**
 * GET /metrics in the Prometheus text format: per gateway (from heartbeats and the series) and for
 * this replica (HTTP requests and latency, agent channels) and the control plane's database (study
 * completion lag, upload bytes). One registry per app: no module-level state. Operator-wide: every
 * group's gateways, labelled by id, name and facility, never by patient data.
 */
export function registerMetrics(app: Hono<AppEnv>, deps: AppDeps, token: string | undefined): void {
  const registry = new Registry();
  const requests = new Counter({
    name: 'ferry_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ferry_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.use('*', async (c, next) => {
    const end = duration.startTimer();
    let answered = 500;
    try {
      await next();
      answered = c.res.status;
    } catch (err) {
      // Mapped to its response by the outer middleware, after this one.
      answered = isFerryError(err) ? err.httpStatus : 500;
      throw err;
    } finally {
      // The matched pattern (/api/v1/gateways/:id), never the raw path: bounded labels, no ids. The first
      // non-middleware route matched is the one that answered (a 404 matched none).
      const handler = matchedRoutes(c).find((r) => r.method !== 'ALL');
      const route = handler?.path ?? 'unmatched';
      const status = String(answered);
      requests.inc({ method: c.req.method, route, status });
      end({ method: c.req.method, route });
    }
  });

  let figures: ControlPlaneFigures | undefined;
  const gauge = (name: string, help: string, labelNames: readonly string[], read: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        read(this);
      },
    });
  const perGateway = (
    name: string,
    help: string,
    value: (g: ControlPlaneFigures['gateways'][number]) => number | null,
  ) =>
    gauge(name, help, GATEWAY_LABELS, (m) => {
      for (const g of figures?.gateways ?? []) {
        const v = value(g);
        if (v !== null) m.set({ gateway_id: g.gatewayId, gateway: g.name, facility: g.facility }, v);
      }
    });
  gauge(
    'ferry_gateway_status',
    'The gateway status: 1 for the status it is in.',
    [...GATEWAY_LABELS, 'status'],
    (m) => {
      for (const g of figures?.gateways ?? [])
        for (const s of ['online', 'degraded', 'offline', 'revoked'])
          m.set(
            { gateway_id: g.gatewayId, gateway: g.name, facility: g.facility, status: s },
            (g.revoked ? s === 'revoked' : s === g.status) ? 1 : 0,
          );
    },
  );
  perGateway(
    'ferry_gateway_backlog_objects',
    'Objects in the spool not yet delivered.',
    (g) => g.backlogCount,
  );
  perGateway(
    'ferry_gateway_backlog_bytes',
    'Sealed bytes in the spool not yet delivered.',
    (g) => g.backlogBytes,
  );
  perGateway('ferry_gateway_oldest_unsent_seconds', 'Age of the oldest undelivered object (0: none).', (g) =>
    g.oldestUnsentSeconds === null
      ? g.backlogCount === null
        ? null
        : 0
      : Math.max(0, g.oldestUnsentSeconds),
  );
  perGateway(
    'ferry_gateway_last_heartbeat_age_seconds',
    'Seconds since the last heartbeat.',
    (g) => g.lastHeartbeatAgeSeconds,
  );
  perGateway(
    'ferry_gateway_received_per_minute',
    'Instances received per minute (5-minute mean).',
    (g) => g.receivedPerMinute,
  );
  perGateway(
    'ferry_gateway_delivered_per_minute',
    'Objects delivered per minute (5-minute mean).',
    (g) => g.deliveredPerMinute,
  );
  perGateway(
    'ferry_gateway_delivery_latency_seconds',
    'Receive to receipt, mean over 5 minutes.',
    (g) => g.deliveryLatencySeconds,
  );
  gauge('ferry_channel_connections', 'Agent channels open on this replica.', [], (m) =>
    m.set(deps.channelHub?.connectedGatewayIds().length ?? 0),
  );
  gauge('ferry_studies_receiving', 'Studies not complete yet.', [], (m) =>
    m.set(figures?.studiesReceiving ?? 0),
  );
  gauge('ferry_studies_completed_1h', 'Studies completed in the last hour.', [], (m) =>
    m.set(figures?.studiesCompleted1h ?? 0),
  );
  gauge(
    'ferry_study_completion_lag_seconds',
    'Last instance to complete, for studies completed in the last hour.',
    ['stat'],
    (m) => {
      if (figures?.completionLagMeanSeconds != null)
        m.set({ stat: 'mean' }, figures.completionLagMeanSeconds);
      if (figures?.completionLagMaxSeconds != null) m.set({ stat: 'max' }, figures.completionLagMaxSeconds);
    },
  );
  gauge('ferry_upload_bytes_1h', 'Sealed bytes of uploads completed in the last hour.', [], (m) =>
    m.set(figures?.uploadedBytes1h ?? 0),
  );

  app.get('/metrics', async (c) => {
    checkScrapeToken(c, token);
    figures = await collectMetrics({ ctx: systemCtx(deps.database.db, deps.log, c.get('requestId')) });
    const text = await registry.metrics();
    return c.body(text, 200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
  });
}
