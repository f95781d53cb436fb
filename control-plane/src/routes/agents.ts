import { createPublicKey } from 'node:crypto';
import { gatewayNameSchema } from '@ferry/shared';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { JWK } from 'jose';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { enrollAgent } from '../services/enroll-agent.js';
import { getAgentSelf } from '../services/get-agent-self.js';
import { rotateAgentKey } from '../services/rotate-agent-key.js';
import { errorResponses } from './openapi-common.js';

function isEd25519PublicKey(x: string): boolean {
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

/** The agent's Ed25519 public key as a JWK; a private part ("d") is refused, other members dropped. */
const agentPublicKeySchema = z
  .looseObject({
    kty: z.literal('OKP', { error: 'must be "OKP" (an Ed25519 key)' }),
    crv: z.literal('Ed25519', { error: 'must be "Ed25519"' }),
    x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url'),
  })
  .superRefine((jwk, ctx) => {
    if ('d' in jwk) {
      ctx.addIssue({
        code: 'custom',
        path: ['d'],
        message: 'this is a private key: send only the public key, the private part never leaves the gateway',
      });
    } else if (!isEd25519PublicKey(jwk.x)) {
      ctx.addIssue({ code: 'custom', path: ['x'], message: 'is not a valid Ed25519 public key' });
    }
  })
  .transform((jwk): JWK => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }))
  .openapi('AgentPublicKey', {
    type: 'object',
    required: ['kty', 'crv', 'x'],
    properties: {
      kty: { type: 'string', enum: ['OKP'] },
      crv: { type: 'string', enum: ['Ed25519'] },
      x: { type: 'string', description: '32-byte public key, base64url' },
    },
    description: 'Ed25519 public key as an OKP JWK, without "d"',
    example: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' },
  });

const facilitySchema = z.object({ id: z.uuid(), name: z.string(), aeTitle: z.string() });
const configSchema = z.record(z.string(), z.unknown()).openapi({
  description: 'Desired gateway config (aeTitle, port, allowedCallingAeTitles, maxAssociations)',
});
const recipientKeySchema = z
  .object({ kty: z.string(), crv: z.string(), x: z.string(), kid: z.string().optional() })
  .openapi({ description: "The control plane's X25519 public key the agent wraps data keys for" });

function recipientJson(jwk: JWK): z.infer<typeof recipientKeySchema> {
  return {
    kty: jwk.kty ?? 'OKP',
    crv: jwk.crv ?? 'X25519',
    x: jwk.x ?? '',
    ...(jwk.kid ? { kid: jwk.kid } : {}),
  };
}

const enroll = createRoute({
  method: 'post',
  path: '/api/v1/agents/enroll',
  tags: ['agents'],
  summary: 'Exchange an enrollment token for a gateway registration',
  description:
    'Public: the enrollment token in the body is the credential. A used-up, expired, revoked or unknown token gives 401 enrollment.token_invalid.',
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({
              token: z.string().min(1).max(256),
              publicKey: agentPublicKeySchema,
              hostname: z.string().trim().min(1).max(253),
              /** Default: the facility's name and the host name ("… (2)" when another gateway holds it). */
              name: gatewayNameSchema.optional(),
              version: z.string().trim().min(1).max(64),
            })
            .strict(),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'Enrolled. Keep the gateway id; sign agent tokens with the private key from now on.',
      content: {
        'application/json': {
          schema: z.object({
            gatewayId: z.uuid(),
            name: z.string().openapi({ description: "The gateway's display name" }),
            facility: facilitySchema,
            config: configSchema,
            configVersion: z.number().int(),
            recipientPublicKey: recipientKeySchema,
            releaseSigningKey: z
              .record(z.string(), z.unknown())
              .optional()
              .openapi({ description: 'The public key agent releases are signed with' }),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 413, 415, 429),
  },
});

const rotateKey = createRoute({
  method: 'post',
  path: '/api/v1/agents/rotate-key',
  tags: ['agents'],
  summary: "Replace the gateway's key (authenticated with the old key)",
  description:
    'The signing key is kept as the previous key and still accepted until the first token signed with the new key arrives.',
  middleware: [authenticate('agent')] as const,
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ publicKey: agentPublicKeySchema }).strict() } },
    },
  },
  responses: {
    200: {
      description: 'Rotated',
      content: { 'application/json': { schema: z.object({ gatewayId: z.uuid(), rotatedAt: z.string() }) } },
    },
    ...errorResponses(400, 401, 403),
  },
});

const me = createRoute({
  method: 'get',
  path: '/api/v1/agents/me',
  tags: ['agents'],
  summary: 'The calling gateway: its facility and latest desired config',
  middleware: [authenticate('agent')] as const,
  responses: {
    200: {
      description: 'The gateway',
      content: {
        'application/json': {
          schema: z.object({
            gatewayId: z.uuid(),
            facility: facilitySchema,
            configVersion: z.number().int(),
            config: configSchema,
          }),
        },
      },
    },
    ...errorResponses(401, 403),
  },
});

export function registerAgents(app: OpenAPIHono<AppEnv>): void {
  app.openapi(enroll, async (c) => {
    const input = c.req.valid('json');
    const enrolled = await enrollAgent({
      ctx: ctxOf(c),
      input,
      recipientPublicKey: c.get('deps').recipientPublicKey,
    });
    return c.json(
      {
        gatewayId: enrolled.gatewayId,
        name: enrolled.name,
        facility: enrolled.facility,
        config: enrolled.config,
        configVersion: enrolled.configVersion,
        recipientPublicKey: recipientJson(enrolled.recipientPublicKey),
        ...(c.get('deps').agentRelease.signingKey
          ? { releaseSigningKey: c.get('deps').agentRelease.signingKey }
          : {}),
      },
      200,
    );
  });

  app.openapi(rotateKey, async (c) => {
    const { publicKey } = c.req.valid('json');
    const rotated = await rotateAgentKey({ ctx: ctxOf(c), input: { publicKey } });
    return c.json({ gatewayId: rotated.gatewayId, rotatedAt: rotated.rotatedAt.toISOString() }, 200);
  });

  app.openapi(me, async (c) => {
    const self = await getAgentSelf({ ctx: ctxOf(c) });
    return c.json(self, 200);
  });
}
