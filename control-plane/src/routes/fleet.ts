import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { getFleetSummary } from '../services/get-fleet-summary.js';
import { json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const fleetSummarySchema = z
  .object({
    gateways: z
      .object({
        online: z.number().int(),
        degraded: z.number().int(),
        offline: z.number().int(),
        total: z.number().int(),
      })
      .openapi({ description: 'Non-revoked gateways by status; one that never connected counts as offline' }),
    studiesWaiting: z
      .number()
      .int()
      .openapi({ description: 'Studies with undelivered objects, over the latest health' }),
    objectsWaiting: z.number().int(),
    bytesWaiting: z.number(),
    oldestUnsentAt: z.iso.datetime({ offset: true }).nullable(),
    oldestUnsentGatewayId: z.uuid().nullable(),
    openAlerts: z.object({ errors: z.number().int(), warnings: z.number().int() }).openapi({
      description: 'Open alerts by severity (gateway.offline included), as GET /api/v1/alerts lists them',
    }),
  })
  .openapi('FleetSummary');

const fleetSummaryRoute = createRoute({
  method: 'get',
  path: '/api/v1/fleet/summary',
  tags: ['gateways'],
  summary: "The group's fleet at a glance: gateways by status, what waits to be shipped",
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'The summary', content: json(fleetSummarySchema) },
    ...errorResponses(401, 403),
  },
});

export function registerFleet(app: OpenAPIHono<AppEnv>): void {
  app.openapi(fleetSummaryRoute, async (c) => {
    const s = await getFleetSummary({ ctx: ctxOf(c) });
    return c.json({ ...s, oldestUnsentAt: s.oldestUnsentAt?.toISOString() ?? null }, 200);
  });
}
