import { z } from 'zod';
import { releaseSigningKeySchema } from './agent-release.js';
import { dicomPeersSchema } from './dicom-peers.js';

/**
 * Wire contracts of the agent API (/api/v1/agents/*) as the agent reads them. The control plane
 * documents the same shapes in its OpenAPI routes.
 */

/** The desired gateway config; its fields are agent.json fields. Unknown members are kept. */
export const gatewayConfigSchema = z.looseObject({
  aeTitle: z.string(),
  port: z.number().int(),
  allowedCallingAeTitles: z.array(z.string()),
  maxAssociations: z.number().int(),
  /** Protocol 5: the DICOM nodes the gateway may dial for the control plane. */
  peers: dicomPeersSchema.optional(),
});
export type GatewayConfigWire = z.infer<typeof gatewayConfigSchema>;

const facilitySchema = z.object({ id: z.string(), name: z.string(), aeTitle: z.string() });

/** POST /api/v1/agents/enroll request body. */
export interface EnrollRequest {
  token: string;
  publicKey: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  hostname: string;
  version: string;
  /** `ferry-agent enroll --name`; without it the control plane names the gateway after its facility and host. */
  name?: string;
}

/** POST /api/v1/agents/enroll response. */
export const enrollResponseSchema = z.object({
  gatewayId: z.uuid(),
  /** The gateway's display name (issue 17; older control planes send none). */
  name: z.string().optional(),
  facility: facilitySchema,
  config: gatewayConfigSchema,
  configVersion: z.number().int().min(1),
  recipientPublicKey: z.looseObject({ kty: z.string(), crv: z.string(), x: z.string() }),
  /** The key the control plane signs agent releases with (optional: older control planes sign none). */
  releaseSigningKey: releaseSigningKeySchema.optional(),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

/** GET /api/v1/agents/me response. */
export const agentSelfSchema = z.object({
  gatewayId: z.uuid(),
  facility: facilitySchema,
  configVersion: z.number().int().min(1),
  config: gatewayConfigSchema,
});
export type AgentSelf = z.infer<typeof agentSelfSchema>;

/** POST /api/v1/agents/rotate-key response. */
export const rotateKeyResponseSchema = z.object({ gatewayId: z.uuid(), rotatedAt: z.string() });

/** Every API error: `{ error: { code, message, requestId, reenroll? } }`. */
export const apiErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    requestId: z.string().optional(),
    reenroll: z.boolean().optional(),
  }),
});
