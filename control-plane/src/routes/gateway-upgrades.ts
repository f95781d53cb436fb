import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { startUpgradeRollout } from '../services/start-upgrade-rollout.js';
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

const rolloutRoute = createRoute({
  method: 'post',
  path: '/api/v1/upgrades',
  tags: ['gateways'],
  summary: "Upgrade a facility's or the group's gateways, canary first (admin)",
  description:
    'Every enrolled gateway of the facility (`facilityId`) or of the group that runs a version older than the ' +
    'served release: the first with a live channel (the canary) is sent it now, the rest once the canary is ' +
    'online again on the new version. A canary not back within 10 minutes stops the rollout. 409 ' +
    'resource.conflict when none is behind, 409 gateway.offline when none of them is online.',
  middleware: [authenticate('user')] as const,
  request: {
    body: { content: json(z.object({ facilityId: z.uuid().optional() }).strict()), required: false },
  },
  responses: {
    202: {
      description: 'The canary was sent the release',
      content: json(
        z.object({
          rolloutId: z.uuid(),
          version: z.string(),
          canaryGatewayId: z.uuid(),
          waiting: z.number().int(),
        }),
      ),
    },
    ...errorResponses(400, 401, 403, 404, 409),
  },
});

export function registerGatewayUpgrades(app: OpenAPIHono<AppEnv>): void {
  app.openapi(rolloutRoute, async (c) => {
    const body = c.req.valid('json') ?? {};
    const agentRelease = c.get('deps').agentRelease;
    const started = await startUpgradeRollout({
      ctx: ctxOf(c),
      input: { facilityId: body.facilityId, release: () => agentRelease.descriptor() },
    });
    return c.json(started, 202);
  });

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
