import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { upgradeGateway } from '../services/upgrade-gateway.js';
import { idParamSchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const upgradeRoute = createRoute({
  method: 'post',
  path: '/api/v1/gateways/{id}/upgrade',
  tags: ['gateways'],
  summary: 'Upgrade a gateway to the agent release this control plane serves (admin)',
  description:
    'The gateway downloads the release, checks its SHA-256 and the release signature, installs it beside the ' +
    'running one and restarts into it; its supervisor rolls back by itself if the new version does not reach ' +
    'the control channel healthy within a minute. The outcome is the version the gateway reports next. ' +
    '409 gateway.offline without a live channel; 404 agent_release.missing when there is no signed release.',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    202: {
      description: 'Sent (upgradeId null: the gateway already runs this version)',
      content: json(
        z.object({ upgradeId: z.uuid().nullable(), fromVersion: z.string(), toVersion: z.string() }),
      ),
    },
    ...errorResponses(401, 403, 404, 409),
  },
});

export function registerGatewayUpgrades(app: OpenAPIHono<AppEnv>): void {
  app.openapi(upgradeRoute, async (c) => {
    const ctx = ctxOf(c);
    const { id } = c.req.valid('param');
    const agentRelease = c.get('deps').agentRelease;
    const out = await upgradeGateway({
      ctx,
      input: { gatewayId: id, release: () => agentRelease.descriptor() },
    });
    return c.json({ ...out, upgradeId: out.upgradeId ?? null }, 202);
  });
}
