import { z } from 'zod';
import { aeTitleProblem } from '../dicom/ae-title.js';
import { releaseDescriptorSchema, releaseSigningKeySchema } from './agent-release.js';
import { DICOM_PEER_NAME_MAX } from './dicom-peers.js';
import { gatewayConfigV2Schema } from './gateway-config.js';
import { healthReportSchema } from './health.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * The live control channel: one websocket per gateway at CHANNEL_PATH, opened by the agent (outbound
 * only) with its agent JWT at the upgrade. Every message is JSON, discriminated by `type`, and carries
 * the sender's protocol version `v`.
 */
export const CHANNEL_PATH = '/api/v1/agents/channel';

/** The oldest agent protocol a control plane still talks to over the channel. */
export const MIN_CHANNEL_PROTOCOL = 7;

/** Close codes (4000–4999 are ours). */
export const CHANNEL_CLOSE = {
  /** The control plane is going away; reconnect. */
  goingAway: 1001,
  /** A message did not parse or broke the protocol. */
  protocolError: 4400,
  /** The gateway was revoked or is unknown: discard the identity, enroll again. */
  reenroll: 4401,
  /** The peer's protocol version is not supported. */
  versionMismatch: 4426,
  /** A newer channel from the same gateway replaced this one. */
  replaced: 4409,
} as const;

/** Upgrade refusals carry the Ferry error in these headers (an upgrade response has no body). */
export const CHANNEL_ERROR_HEADER = 'x-ferry-error-code';
export const CHANNEL_REENROLL_HEADER = 'x-ferry-reenroll';

const v = z.number().int().min(1);
const id = z.uuid();
/** An RFC 7638 SHA-256 JWK thumbprint (base64url, 43 characters). */
const thumbprint = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

const aeTitle = z.string().superRefine((val, ctx) => {
  const problem = aeTitleProblem(val);
  if (problem) ctx.addIssue({ code: 'custom', message: `AE title ${problem}` });
});

/** Diagnostics an admin starts from the control plane; the gateway runs them and answers. */
export const diagnosticRequestSchema = z.discriminatedUnion('kind', [
  /**
   * A C-ECHO to one of the gateway's listed peers (its config's `peers`), named by `peer` or by its
   * host and port (and AE title, TLS), each of which must match that peer exactly. The control plane
   * stores and sends the peer's every field; the gateway checks them against its own applied list.
   */
  z
    .object({
      kind: z.literal('echo'),
      peer: z.string().trim().min(1).max(DICOM_PEER_NAME_MAX).optional(),
      host: z.string().min(1).max(253).optional(),
      port: z.number().int().min(1).max(65535).optional(),
      /** The peer's AE title. */
      calledAeTitle: aeTitle.optional(),
      /** Default: the gateway's own AE title. */
      callingAeTitle: aeTitle.optional(),
      tls: z.boolean().optional(),
      timeoutMs: z.number().int().min(100).max(60_000).optional(),
    })
    .strict()
    .superRefine((r, ctx) => {
      if (r.peer !== undefined || (r.host !== undefined && r.port !== undefined)) return;
      ctx.addIssue({
        code: 'custom',
        path: r.host === undefined ? ['peer'] : ['port'],
        message: 'name a listed peer (peer), or give its host and port',
      });
    }),
  z.object({ kind: z.literal('upload-test') }).strict(),
  z.object({ kind: z.literal('logs'), lines: z.number().int().min(1).max(5000).optional() }).strict(),
]);
export type DiagnosticRequest = z.infer<typeof diagnosticRequestSchema>;

/** What a diagnostic found: `ok` plus a human summary, and structured details per kind. */
export const diagnosticResultSchema = z.object({
  ok: z.boolean(),
  summary: z.string().max(2000),
  /** echo: {status, ms}; upload-test: {bytes, ms}; logs: {lines: object[]}. */
  details: z.record(z.string(), z.unknown()).optional(),
  /** When !ok: the Ferry error code of the failure. */
  code: z.string().max(64).optional(),
});
export type DiagnosticResult = z.infer<typeof diagnosticResultSchema>;

// ---- agent → control plane ----

export const agentHelloSchema = z.object({
  type: z.literal('hello'),
  v,
  agentVersion: z.string().max(64),
  /** The config version in force on the gateway; 0 when it has none. */
  configVersion: z.number().int().min(0),
  /**
   * A connectivity probe (`ferry-agent doctor`): the control plane answers `welcome` and closes; it
   * does not replace the gateway's live channel or change its status.
   */
  probe: z.boolean().optional(),
  /** RFC 7638 thumbprint of the recipient key the gateway seals new objects for (protocol 5). */
  recipientKeyThumbprint: thumbprint.optional(),
});
export const agentHeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  v,
  seq: z.number().int().min(0),
  health: healthReportSchema,
});
export const configAppliedSchema = z.object({
  type: z.literal('config.applied'),
  v,
  version: z.number().int().min(1),
});
export const configRejectedSchema = z.object({
  type: z.literal('config.rejected'),
  v,
  version: z.number().int().min(1),
  /** Shown to the admin: names the field and the problem ("port 104 is in use"). */
  reason: z.string().min(1).max(2000),
});
export const diagnosticResultMessageSchema = z.object({
  type: z.literal('diagnostic.result'),
  v,
  id,
  result: diagnosticResultSchema,
});
export const resyncRequestSchema = z.object({ type: z.literal('resync'), v });

export const agentMessageSchema = z.discriminatedUnion('type', [
  agentHelloSchema,
  agentHeartbeatSchema,
  configAppliedSchema,
  configRejectedSchema,
  diagnosticResultMessageSchema,
  resyncRequestSchema,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

// ---- control plane → agent ----

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  v,
  gatewayId: id,
  /** Heartbeat every this many seconds (the agent adds ±10% jitter). */
  heartbeatSeconds: z.number().min(0.1).max(3600),
  serverTime: z.string(),
  /**
   * The key the control plane signs agent releases with, for a gateway enrolled before releases were
   * signed: it keeps the first one it is given (over its authenticated channel) and never replaces it.
   */
  releaseSigningKey: releaseSigningKeySchema.optional(),
});
/**
 * Desired config. Parsed loosely here so that the agent can receive a version it cannot apply and
 * reject it with a reason; the agent validates `config` with gatewayConfigV2Schema before applying.
 */
export const configMessageSchema = z.object({
  type: z.literal('config'),
  v,
  version: z.number().int().min(1),
  config: z.record(z.string(), z.unknown()),
});
export const heartbeatAckSchema = z.object({
  type: z.literal('heartbeat.ack'),
  v,
  seq: z.number().int().min(0),
  serverTime: z.string(),
});
export const diagnosticRequestMessageSchema = z.object({
  type: z.literal('diagnostic.request'),
  v,
  id,
  request: diagnosticRequestSchema,
});
export const channelErrorSchema = z.object({
  type: z.literal('error'),
  v,
  /** A code from the shared error table. */
  code: z.string().max(64),
  message: z.string().max(2000),
});
export const reenrollSchema = z.object({ type: z.literal('reenroll'), v, message: z.string().max(2000) });
/**
 * The control plane's current recipient key, sent to a gateway that seals for another (after
 * `keys rotate`, or at hello when it was offline then). The gateway checks that `thumbprint` is the
 * key's, stores it durably and seals new objects for it; its next heartbeat reports the new thumbprint.
 */
export const recipientKeyMessageSchema = z.object({
  type: z.literal('recipient-key'),
  v,
  publicJwk: z
    .object({
      kty: z.literal('OKP'),
      crv: z.literal('X25519'),
      x: z.string().min(1).max(64),
      kid: z.string().max(64).optional(),
      use: z.literal('enc').optional(),
    })
    .strict(),
  thumbprint,
});

/**
 * Install this release and restart into it (an admin's upgrade). The gateway downloads it from
 * AGENT_RELEASE_API_PATH, checks size, SHA-256 and the release signature, and its supervisor rolls
 * back by itself if the new version does not come back healthy. An agent that does not know the
 * message ignores it, so it is optional to every protocol version.
 */
export const upgradeMessageSchema = z.object({
  type: z.literal('upgrade'),
  v,
  id,
  release: releaseDescriptorSchema,
});

export const serverMessageSchema = z.discriminatedUnion('type', [
  welcomeSchema,
  configMessageSchema,
  heartbeatAckSchema,
  diagnosticRequestMessageSchema,
  channelErrorSchema,
  reenrollSchema,
  recipientKeyMessageSchema,
  upgradeMessageSchema,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** Checks that a config message's payload is a config this protocol version can apply. */
export const pushedConfigSchema = gatewayConfigV2Schema;

/** Stamps a message with this side's protocol version. */
export function channelMessage<T extends { type: string }>(msg: T): T & { v: number } {
  return { ...msg, v: PROTOCOL_VERSION };
}
