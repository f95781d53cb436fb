import { FerryError } from '@ferry/shared';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../edge/types.js';

export function registerHealth(app: OpenAPIHono<AppEnv>): void {
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    try {
      await c.get('deps').database.ping();
    } catch (cause) {
      throw new FerryError('db.unavailable', 'database is not reachable', { cause });
    }
    return c.json({ ok: true });
  });
}
