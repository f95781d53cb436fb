import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { getGatewaySettings } from '../services/get-gateway-settings.js';
import { updateGatewaySettings } from '../services/update-gateway-settings.js';
import { gatewaySettingsBodySchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const getSettingsRoute = createRoute({
  method: 'get',
  path: '/api/v1/settings/gateways',
  tags: ['settings'],
  summary: "The group's gateway settings (defaults for all its gateways)",
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'The settings', content: json(z.object({ settings: gatewaySettingsBodySchema })) },
    ...errorResponses(401, 403),
  },
});

const putSettingsRoute = createRoute({
  method: 'put',
  path: '/api/v1/settings/gateways',
  tags: ['settings'],
  summary: "Replace the group's gateway settings (admin)",
  description:
    "Each non-revoked gateway whose config changes gets a new config version, pushed to it live; a facility's own " +
    'settings still win over these.',
  middleware: [authenticate('user')] as const,
  request: { body: { required: true, content: json(gatewaySettingsBodySchema) } },
  responses: {
    200: {
      description: 'The settings as stored, and the config versions written',
      content: json(
        z.object({
          settings: gatewaySettingsBodySchema,
          configVersions: z.array(z.object({ gatewayId: z.uuid(), version: z.number().int() })),
        }),
      ),
    },
    ...errorResponses(400, 401, 403, 413, 415),
  },
});

export function registerGatewaySettings(app: OpenAPIHono<AppEnv>): void {
  app.openapi(getSettingsRoute, async (c) => {
    return c.json(await getGatewaySettings({ ctx: ctxOf(c) }), 200);
  });
  app.openapi(putSettingsRoute, async (c) => {
    const result = await updateGatewaySettings({ ctx: ctxOf(c), input: { settings: c.req.valid('json') } });
    return c.json(result, 200);
  });
}
