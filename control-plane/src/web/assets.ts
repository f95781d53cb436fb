import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { AppEnv } from '../edge/types.js';

/** control-plane/public, from src/web or dist/web alike. */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Serves the console's own assets (no CDN): only plain file names from public/, nothing else. */
export function registerAssets(web: Hono<AppEnv>): void {
  web.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    const ext = /^[a-z0-9-]+(\.[a-z]+)$/.exec(file)?.[1];
    const type = ext ? TYPES[ext] : undefined;
    if (!type) return c.notFound();
    let body: Buffer;
    try {
      body = await readFile(`${PUBLIC_DIR}${file}`);
    } catch {
      return c.notFound();
    }
    c.header('content-type', type);
    c.header('cache-control', 'public, max-age=300');
    return c.body(new Uint8Array(body));
  });
}
