import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../http/types.js';
import { registerAuth } from './auth.js';
import { registerHealth } from './health.js';

export function registerRoutes(app: OpenAPIHono<AppEnv>): void {
  registerHealth(app);
  registerAuth(app);
}
