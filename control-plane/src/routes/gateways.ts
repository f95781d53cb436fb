import { gatewayNameSchema, healthReportSchema, recipientKeyThumbprint } from '@ferry/shared';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { GATEWAY_DETAIL_EVENTS, type GatewayDetail, getGateway } from '../services/get-gateway.js';
import { listGateways } from '../services/list-gateways.js';
import { gatewayLocalOverrides } from '../services/local-overrides.js';
import { renameGateway } from '../services/rename-gateway.js';
import { revokeGateway } from '../services/revoke-gateway.js';
import { gatewayDto, gatewaySchema, idParamSchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const gatewayDetailSchema = gatewaySchema
  .extend({
    config: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'The desired config that configVersion numbers (agent.json fields)' }),
    /** The latest heartbeat health report. */
    health: z.union([healthReportSchema, z.null()]),
    recipientKey: z
      .object({
        thumbprint: z.string().nullable().openapi({
          description:
            'RFC 7638 thumbprint of the recipient key the gateway seals new objects for (its latest heartbeat); null before it reported one',
        }),
        current: z.boolean().openapi({
          description:
            "Whether that is the control plane's current key (after keys rotate, until the gateway has the new one: false)",
        }),
        controlPlaneThumbprint: z
          .string()
          .openapi({ description: "The control plane's current recipient key" }),
      })
      .openapi({ description: 'Which key the gateway encrypts for' }),
    localOverrides: z
      .array(
        z.object({
          setting: z.string(),
          desired: z.unknown(),
          inForce: z.unknown(),
          source: z.enum(['flag', 'file', 'unknown']).openapi({
            description: 'flag: a ferry-agent start flag; file: agent.json; unknown: an agent too old to say',
          }),
        }),
      )
      .openapi({
        description:
          'Settings in force on the gateway that differ from the desired config it applied (config.local_override)',
      }),
    rejectedConfig: z
      .object({ version: z.number().int(), reason: z.string(), at: z.string() })
      .nullable()
      .openapi({
        description: 'The latest version the gateway refused and why; null once a newer one applied',
      }),
    events: z
      .array(
        z.object({
          id: z.uuid(),
          at: z.iso.datetime({ offset: true }),
          type: z.string().openapi({
            description:
              'status, channel.connected, channel.closed, config.applied, config.rejected, diagnostic',
          }),
          details: z.record(z.string(), z.unknown()),
        }),
      )
      .openapi({ description: `The ${GATEWAY_DETAIL_EVENTS} most recent events, newest first` }),
  })
  .openapi('GatewayDetail');

function gatewayDetailDto(g: GatewayDetail, currentKey: string): z.infer<typeof gatewayDetailSchema> {
  const thumbprint = g.health?.recipientKeyThumbprint ?? null;
  return {
    ...gatewayDto(g),
    config: g.config,
    health: g.health,
    recipientKey: { thumbprint, current: thumbprint === currentKey, controlPlaneThumbprint: currentKey },
    localOverrides: gatewayLocalOverrides(g),
    rejectedConfig: g.rejectedConfig,
    events: g.events.map((e) => ({ id: e.id, at: e.at.toISOString(), type: e.type, details: e.details })),
  };
}

const listGatewaysRoute = createRoute({
  method: 'get',
  path: '/api/v1/gateways',
  tags: ['gateways'],
  summary: "The group's gateways with their live status, revoked ones included",
  middleware: [authenticate('user')] as const,
  responses: {
    200: {
      description: 'Gateways, newest enrolment first',
      content: json(z.object({ gateways: z.array(gatewaySchema) })),
    },
    ...errorResponses(401, 403),
  },
});

const getGatewayRoute = createRoute({
  method: 'get',
  path: '/api/v1/gateways/{id}',
  tags: ['gateways'],
  summary: 'One gateway with its desired config, latest health and recent events',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The gateway', content: json(gatewayDetailSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const revokeGatewayRoute = createRoute({
  method: 'post',
  path: '/api/v1/gateways/{id}/revoke',
  tags: ['gateways'],
  summary: 'Revoke a gateway (admin)',
  description:
    'Its next call is refused with 401 and reenroll: true. Revoking a revoked gateway changes nothing.',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The gateway, revoked', content: json(gatewaySchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const renameGatewayRoute = createRoute({
  method: 'patch',
  path: '/api/v1/gateways/{id}',
  tags: ['gateways'],
  summary: 'Rename a gateway (admin)',
  description:
    'The name is trimmed, 1 to 64 characters, and unique within the facility (409 resource.conflict ' +
    'otherwise). A revoked gateway cannot be renamed (409). Audited as gateway.rename.',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema,
    body: {
      required: true,
      content: json(z.object({ name: gatewayNameSchema }).strict()),
    },
  },
  responses: {
    200: { description: 'The gateway, renamed', content: json(gatewaySchema) },
    ...errorResponses(400, 401, 403, 404, 409),
  },
});

export function registerGateways(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listGatewaysRoute, async (c) => {
    const gateways = await listGateways({ ctx: ctxOf(c) });
    return c.json({ gateways: gateways.map(gatewayDto) }, 200);
  });
  app.openapi(getGatewayRoute, async (c) => {
    const gateway = await getGateway({ ctx: ctxOf(c), input: c.req.valid('param') });
    const currentKey = await recipientKeyThumbprint(c.get('deps').recipientPublicKey);
    return c.json(gatewayDetailDto(gateway, currentKey), 200);
  });
  app.openapi(renameGatewayRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { name } = c.req.valid('json');
    const gateway = await renameGateway({ ctx: ctxOf(c), input: { id, name } });
    return c.json(gatewayDto(gateway), 200);
  });
  app.openapi(revokeGatewayRoute, async (c) => {
    const gateway = await revokeGateway({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.json(gatewayDto(gateway), 200);
  });
}
