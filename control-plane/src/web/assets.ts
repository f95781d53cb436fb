import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { AppEnv } from '../edge/types.js';

/**
 * The console's own browser files (no CDN), each beside the page or layout that loads it, by the
 * name the browser asks for under /assets/. A fixed list: a request can name nothing else, so no path
 * from a URL ever reaches the file system. The build copies these files from src/web to dist/web
 * (scripts/copy-web-assets.mjs reads this list).
 */
export const CONSOLE_ASSETS: Readonly<Record<string, string>> = {
  'app.css': 'layout.css',
  'app.js': 'layout.client.js',
  'favicon.svg': 'favicon.svg',
  'audit.css': 'pages/audit/audit.css',
  'facilities.css': 'pages/facilities/facilities.css',
  'facilities.js': 'pages/facilities/facilities.client.js',
  'fleet.css': 'pages/fleet/fleet.css',
  'fleet.js': 'pages/fleet/fleet.client.js',
  'gateway-charts.css': 'pages/gateway/gateway-charts.css',
  'gateway-charts.js': 'pages/gateway/gateway-charts.client.js',
  'settings.css': 'components/gateway-settings.css',
  'settings.js': 'components/gateway-settings.client.js',
  'worklist.css': 'pages/worklist/worklist.css',
  'worklist.js': 'pages/worklist/worklist.client.js',
};

/**
 * Maintained browser libraries the console uses, served from their npm package as it is installed
 * (same origin, so the CSP stays `'self'`): uPlot draws the gateway page's charts.
 */
export const VENDOR_ASSETS: Readonly<Record<string, string>> = {
  'uplot.js': 'uplot/dist/uPlot.iife.min.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};
const vendorPath = (spec: string) => createRequire(import.meta.url).resolve(spec);

/** Where the files are: src/web when run from source, dist/web when run from the build. */
const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Serves the files of CONSOLE_ASSETS at /assets/<name>; any other name is a 404. */
export function registerAssets(web: Hono<AppEnv>): void {
  web.get('/assets/:file', async (c) => {
    const name = c.req.param('file');
    const vendor = Object.hasOwn(VENDOR_ASSETS, name) ? VENDOR_ASSETS[name] : undefined;
    const file = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : vendor;
    const type = file ? TYPES[/\.[a-z]+$/.exec(file)?.[0] ?? ''] : undefined;
    if (!file || !type) return c.notFound();
    let body: Buffer;
    try {
      body = await readFile(vendor ? vendorPath(vendor) : `${WEB_DIR}${file}`);
    } catch {
      return c.notFound();
    }
    c.header('content-type', type);
    c.header('cache-control', 'public, max-age=300');
    return c.body(new Uint8Array(body));
  });
}
