import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../http/types.js';
import { registerAgents } from './agents.js';
import { registerAudit } from './audit.js';
import { registerAuth } from './auth.js';
import { registerEnrollmentTokens } from './enrollment-tokens.js';
import { registerFacilities } from './facilities.js';
import { registerGateways } from './gateways.js';
import { registerGroups } from './groups.js';
import { registerHealth } from './health.js';
import { registerUsers } from './users.js';

export function registerRoutes(app: OpenAPIHono<AppEnv>): void {
  registerHealth(app);
  registerAuth(app);
  registerEnrollmentTokens(app);
  registerAgents(app);
  registerFacilities(app);
  registerGateways(app);
  registerGroups(app);
  registerUsers(app);
  registerAudit(app);
}
