import { diagnosticRequestSchema, diagnosticResultSchema } from '@ferry/shared';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import {
  DIAGNOSTIC_MAX_WAIT_SECONDS,
  type DiagnosticView,
  getDiagnostic,
} from '../services/get-diagnostic.js';
import { startDiagnostic } from '../services/start-diagnostic.js';
import { idParamSchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const diagnosticStateSchema = z.enum(['pending', 'sent', 'done', 'expired']);

const diagnosticSchema = z
  .object({
    id: z.uuid(),
    state: diagnosticStateSchema,
    request: diagnosticRequestSchema,
    result: diagnosticResultSchema.nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .openapi('GatewayDiagnostic');

function diagnosticDto(d: DiagnosticView): z.infer<typeof diagnosticSchema> {
  return {
    id: d.id,
    state: d.state,
    request: d.request,
    result: d.result,
    createdAt: d.createdAt.toISOString(),
    completedAt: d.completedAt?.toISOString() ?? null,
  };
}

const startDiagnosticRoute = createRoute({
  method: 'post',
  path: '/api/v1/gateways/{id}/diagnostics',
  tags: ['gateways'],
  summary: 'Run a diagnostic on a gateway (admin)',
  description:
    "C-ECHO to one of the gateway's listed DICOM peers (gateway settings `peers`: name it with `peer`, or give " +
    'a host and port, and optionally calledAeTitle and tls, that match one exactly; anything else is 400 ' +
    'diagnostic.peer_not_listed), an upload round trip, or a log bundle. The gateway must have a live channel ' +
    '(409 gateway.offline otherwise); it has 60 s to answer. Read the result with GET.',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema,
    body: { content: json(diagnosticRequestSchema), required: true },
  },
  responses: {
    202: {
      description: 'Started',
      content: json(z.object({ id: z.uuid(), state: diagnosticStateSchema })),
    },
    ...errorResponses(400, 401, 403, 404, 409, 415),
  },
});

const getDiagnosticRoute = createRoute({
  method: 'get',
  path: '/api/v1/gateways/{id}/diagnostics/{diagnosticId}',
  tags: ['gateways'],
  summary: 'A diagnostic and its result (admin)',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema.extend({
      diagnosticId: z.uuid().openapi({ param: { name: 'diagnosticId', in: 'path' } }),
    }),
    query: z.object({
      waitSeconds: z.coerce
        .number()
        .min(0)
        .max(DIAGNOSTIC_MAX_WAIT_SECONDS)
        .optional()
        .openapi({
          description: `Wait up to this many seconds (≤ ${DIAGNOSTIC_MAX_WAIT_SECONDS}) for done or expired`,
        }),
    }),
  },
  responses: {
    200: { description: 'The diagnostic', content: json(diagnosticSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

export function registerGatewayDiagnostics(app: OpenAPIHono<AppEnv>): void {
  app.openapi(startDiagnosticRoute, async (c) => {
    const started = await startDiagnostic({
      ctx: ctxOf(c),
      input: { gatewayId: c.req.valid('param').id, request: c.req.valid('json') },
    });
    return c.json(started, 202);
  });
  app.openapi(getDiagnosticRoute, async (c) => {
    const { id, diagnosticId } = c.req.valid('param');
    const { waitSeconds } = c.req.valid('query');
    const view = await getDiagnostic({
      ctx: ctxOf(c),
      input: { gatewayId: id, diagnosticId, ...(waitSeconds !== undefined ? { waitSeconds } : {}) },
    });
    return c.json(diagnosticDto(view), 200);
  });
}
