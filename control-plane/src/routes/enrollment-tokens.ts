import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { createEnrollmentToken } from '../services/create-enrollment-token.js';
import { installCommandFor } from '../services/install-command.js';
import { type EnrollmentTokenSummary, listEnrollmentTokens } from '../services/list-enrollment-tokens.js';
import { revokeEnrollmentToken } from '../services/revoke-enrollment-token.js';
import { idParamSchema } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const MAX_EXPIRY_HOURS = 30 * 24;
const MAX_USES = 1000;

const isoTime = z.iso.datetime({ offset: true });

const tokenSummarySchema = z
  .object({
    id: z.uuid(),
    facilityId: z.uuid(),
    createdAt: isoTime,
    expiresAt: isoTime,
    maxUses: z.number().int(),
    uses: z.number().int(),
    revokedAt: isoTime.nullable(),
  })
  .openapi('EnrollmentToken');

function summaryJson(t: EnrollmentTokenSummary): z.infer<typeof tokenSummarySchema> {
  return {
    id: t.id,
    facilityId: t.facilityId,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    maxUses: t.maxUses,
    uses: t.uses,
    revokedAt: t.revokedAt ? t.revokedAt.toISOString() : null,
  };
}

const create = createRoute({
  method: 'post',
  path: '/api/v1/facilities/{id}/enrollment-tokens',
  tags: ['enrollment'],
  summary: 'Issue an enrollment token for a facility (shown once)',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema,
    body: {
      required: false,
      content: {
        'application/json': {
          schema: z
            .object({
              expiresInHours: z.number().int().min(1).max(MAX_EXPIRY_HOURS).optional().openapi({
                description: 'Hours until the token expires (default 24)',
              }),
              maxUses: z.number().int().min(1).max(MAX_USES).optional().openapi({
                description: 'How many gateways may enroll with it (default 1)',
              }),
            })
            .strict(),
        },
      },
    },
  },
  responses: {
    201: {
      description:
        'The token and the shell line to run on the gateway host. The token is not stored and cannot be shown again.',
      content: {
        'application/json': {
          schema: z.object({
            id: z.uuid(),
            token: z.string(),
            installCommand: z
              .string()
              .nullable()
              .openapi({
                description:
                  "One shell line for the gateway host: it downloads this control plane's agent release " +
                  '(/downloads/ferry-agent-linux-x64.tar.gz), checks its SHA-256, unpacks it and runs install.sh, ' +
                  'which enrolls with the token (given on standard input, never as an argument) pinned to keyThumbprint. ' +
                  'null when this control plane has no agent release to serve (agent_release.missing).',
              }),
            keyThumbprint: z.string().openapi({
              description:
                "RFC 7638 SHA-256 thumbprint of the control plane's current recipient key: ferry-agent enroll " +
                '--key-thumbprint refuses an enrollment answer carrying any other key',
            }),
            expiresAt: isoTime,
            maxUses: z.number().int(),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

const list = createRoute({
  method: 'get',
  path: '/api/v1/facilities/{id}/enrollment-tokens',
  tags: ['enrollment'],
  summary: "List a facility's enrollment tokens (never the secrets)",
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'Tokens, newest first, including used, expired and revoked ones',
      content: { 'application/json': { schema: z.object({ tokens: z.array(tokenSummarySchema) }) } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

const revoke = createRoute({
  method: 'post',
  path: '/api/v1/enrollment-tokens/{id}/revoke',
  tags: ['enrollment'],
  summary: 'Revoke an enrollment token (idempotent)',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'The token, revoked',
      content: { 'application/json': { schema: tokenSummarySchema } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export function registerEnrollmentTokens(app: OpenAPIHono<AppEnv>): void {
  app.openapi(create, async (c) => {
    const { id } = c.req.valid('param');
    // No body at all means every default.
    const body = c.req.valid('json');
    const created = await createEnrollmentToken({ ctx: ctxOf(c), input: { facilityId: id, ...body } });
    const { installCommand, keyThumbprint } = await installCommandFor({
      ...c.get('deps'),
      token: created.token,
    });
    return c.json(
      {
        id: created.id,
        token: created.token,
        installCommand,
        keyThumbprint,
        expiresAt: created.expiresAt.toISOString(),
        maxUses: created.maxUses,
      },
      201,
    );
  });

  app.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const tokens = await listEnrollmentTokens({ ctx: ctxOf(c), input: { facilityId: id } });
    return c.json({ tokens: tokens.map(summaryJson) }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { id } = c.req.valid('param');
    const token = await revokeEnrollmentToken({ ctx: ctxOf(c), input: { tokenId: id } });
    return c.json(summaryJson(token), 200);
  });
}
