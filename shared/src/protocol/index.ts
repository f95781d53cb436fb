export * from './ae-title-aliases.js';
export * from './agent-release.js';
export * from './agent-token.js';
export {
  type AgentSelf,
  agentSelfSchema,
  apiErrorBodySchema,
  type EnrollRequest,
  type EnrollResponse,
  enrollResponseSchema,
  type GatewayConfigWire,
  gatewayConfigSchema,
  rotateKeyResponseSchema,
} from './agents.js';
export * from './channel.js';
export * from './context-negotiation.js';
export * from './dicom-peers.js';
export * from './gateway-config.js';
export * from './gateway-name.js';
export * from './gateway-settings.js';
export * from './health.js';
export { type InstanceManifest, instanceManifestSchema } from './manifest.js';
export * from './upload-test.js';
export * from './uploads.js';
export * from './user-identity.js';
export { PROTOCOL_VERSION } from './version.js';
