import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps } from '../app-deps.js';
import type { AppEnv } from '../edge/types.js';
import { partUploadStore } from '../services/receive-part-upload.js';
import { registerChannel } from '../ws/channel-route.js';
import { registerAgentDiagnostics } from './agent-diagnostics.js';
import { registerAgents } from './agents.js';
import { registerAudit } from './audit.js';
import { registerAuth } from './auth.js';
import { registerBlobParts } from './blob-parts.js';
import { registerDicomweb } from './dicomweb/index.js';
import { registerDownloads } from './downloads.js';
import { registerEnrollmentTokens } from './enrollment-tokens.js';
import { registerFacilities } from './facilities.js';
import { registerFleet } from './fleet.js';
import { registerGatewayDiagnostics } from './gateway-diagnostics.js';
import { registerGatewaySettings } from './gateway-settings.js';
import { registerGateways } from './gateways.js';
import { registerGroups } from './groups.js';
import { registerHealth } from './health.js';
import { registerStudies } from './studies.js';
import { registerUploads } from './uploads.js';
import { registerUsers } from './users.js';
import { registerWebhooks } from './webhooks.js';

export function registerRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  registerHealth(app);
  registerDownloads(app);
  registerAuth(app);
  registerEnrollmentTokens(app);
  registerAgents(app);
  registerUploads(app);
  registerAgentDiagnostics(app);
  registerFacilities(app);
  registerGateways(app);
  registerGatewaySettings(app);
  registerFleet(app);
  registerWebhooks(app);
  registerGatewayDiagnostics(app);
  registerGroups(app);
  registerUsers(app);
  registerAudit(app);
  registerStudies(app);
  registerDicomweb(app);
  if (deps.channelHub) registerChannel(app, deps.channelHub);
  // With S3 the agent PUTs to presigned S3 URLs, so this app accepts no blob bytes at all.
  const partStore = partUploadStore(deps.blobStore);
  if (partStore) registerBlobParts(app, partStore);
}
