import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import {
  createWebhook,
  WEBHOOK_DEGRADED_AFTER_DEFAULT,
  WEBHOOK_DEGRADED_AFTER_MAX,
  WEBHOOK_DEGRADED_AFTER_MIN,
  WEBHOOK_URL_MAX_LENGTH,
} from '../services/create-webhook.js';
import { deleteWebhook } from '../services/delete-webhook.js';
import { listWebhookDeliveries } from '../services/list-webhook-deliveries.js';
import { listWebhooks, type WebhookView } from '../services/list-webhooks.js';
import { idParamSchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const isoTime = z.iso.datetime({ offset: true });

const webhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    degradedAfterSeconds: z.number().int(),
    createdAt: isoTime,
  })
  .openapi('Webhook');

const createdWebhookSchema = webhookSchema
  .extend({
    secret: z.string().openapi({
      description:
        'Signs every delivery: ferry-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">. ' +
        'Shown only in this answer.',
    }),
  })
  .openapi('CreatedWebhook');

const deliverySchema = z
  .object({
    id: z.uuid(),
    eventKey: z.string(),
    eventType: z.enum(['gateway.offline', 'gateway.recovered', 'gateway.degraded']),
    payload: z.record(z.string(), z.unknown()),
    attempts: z.number().int(),
    nextAttemptAt: isoTime,
    deliveredAt: isoTime.nullable(),
    failedAt: isoTime.nullable().openapi({ description: 'Set when the delivery was given up' }),
    lastError: z.string().nullable().openapi({
      description:
        'Why the last attempt failed, in short: connection refused, timed out, TLS error, HTTP 500, address not allowed, …',
    }),
    createdAt: isoTime,
  })
  .openapi('WebhookDelivery');

function webhookDto(w: WebhookView): z.infer<typeof webhookSchema> {
  return {
    id: w.id,
    url: w.url,
    degradedAfterSeconds: w.degradedAfterSeconds,
    createdAt: w.createdAt.toISOString(),
  };
}

const createWebhookRoute = createRoute({
  method: 'post',
  path: '/api/v1/webhooks',
  tags: ['webhooks'],
  summary: 'Register an alert webhook for the group (admin)',
  description:
    'It receives signed JSON on gateway.offline, gateway.degraded (degraded longer than degradedAfterSeconds, ' +
    'once per episode) and gateway.recovered. Failed deliveries are retried with backoff. A URL that names ' +
    'or resolves to a loopback, private, link-local, unique-local or cloud-metadata address is refused ' +
    '(400 webhook.url_not_allowed) unless the control plane runs with FERRY_WEBHOOK_ALLOW_PRIVATE=true ' +
    '(private and loopback only); every delivery checks the address again and connects to the one checked.',
  middleware: [authenticate('user')] as const,
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({
            url: z
              .url({ protocol: /^https?$/ })
              .max(WEBHOOK_URL_MAX_LENGTH)
              .openapi({ example: 'https://alerts.example.org/ferry' }),
            degradedAfterSeconds: z
              .number()
              .int()
              .min(WEBHOOK_DEGRADED_AFTER_MIN)
              .max(WEBHOOK_DEGRADED_AFTER_MAX)
              .optional()
              .openapi({ description: `Default ${WEBHOOK_DEGRADED_AFTER_DEFAULT}` }),
          })
          .strict(),
      ),
    },
  },
  responses: {
    201: { description: 'Created, with its secret (shown only here)', content: json(createdWebhookSchema) },
    ...errorResponses(400, 401, 403, 413, 415),
  },
});

const listWebhooksRoute = createRoute({
  method: 'get',
  path: '/api/v1/webhooks',
  tags: ['webhooks'],
  summary: "The group's webhooks, without secrets (admin)",
  middleware: [authenticate('user')] as const,
  responses: {
    200: {
      description: 'Webhooks, oldest first',
      content: json(z.object({ webhooks: z.array(webhookSchema) })),
    },
    ...errorResponses(401, 403),
  },
});

const deleteWebhookRoute = createRoute({
  method: 'delete',
  path: '/api/v1/webhooks/{id}',
  tags: ['webhooks'],
  summary: 'Delete a webhook and its deliveries (admin)',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(400, 401, 403, 404),
  },
});

const listDeliveriesRoute = createRoute({
  method: 'get',
  path: '/api/v1/webhooks/{id}/deliveries',
  tags: ['webhooks'],
  summary: "A webhook's recent deliveries with attempts and outcome (admin)",
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'Deliveries, newest first',
      content: json(z.object({ deliveries: z.array(deliverySchema) })),
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export function registerWebhooks(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createWebhookRoute, async (c) => {
    const row = await createWebhook({
      ctx: ctxOf(c),
      deps: { secrets: c.get('deps').secretBox },
      input: { ...c.req.valid('json'), allowPrivateAddresses: c.get('deps').webhookAllowPrivate ?? false },
    });
    return c.json({ ...webhookDto(row), secret: row.secret }, 201);
  });
  app.openapi(listWebhooksRoute, async (c) => {
    const hooks = await listWebhooks({ ctx: ctxOf(c) });
    return c.json({ webhooks: hooks.map(webhookDto) }, 200);
  });
  app.openapi(deleteWebhookRoute, async (c) => {
    await deleteWebhook({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.body(null, 204);
  });
  app.openapi(listDeliveriesRoute, async (c) => {
    const rows = await listWebhookDeliveries({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.json(
      {
        deliveries: rows.map((d) => ({
          id: d.id,
          eventKey: d.eventKey,
          eventType: d.eventType as z.infer<typeof deliverySchema>['eventType'],
          payload: d.payload,
          attempts: d.attempts,
          nextAttemptAt: d.nextAttemptAt.toISOString(),
          deliveredAt: d.deliveredAt?.toISOString() ?? null,
          failedAt: d.failedAt?.toISOString() ?? null,
          lastError: d.lastError,
          createdAt: d.createdAt.toISOString(),
        })),
      },
      200,
    );
  });
}
