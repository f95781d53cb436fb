import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../edge/types.js';
import { consoleHeaders } from '../web/csp.js';
import { Layout } from '../web/layout.js';
import { pageUser, requirePage } from '../web/page-context.js';
import { VIEWER_APP_CONFIG_JS } from './viewer-app-config.js';
import { VIEWER_CONTENT_SECURITY_POLICY, VIEWER_WORKER_CONTENT_SECURITY_POLICY } from './viewer-csp.js';
import { BOOT_SCRIPT, VIEWER_BOOT_JS } from './viewer-index-html.js';
import {
  DEFAULT_VIEWER_DIR,
  FETCH_VIEWER_COMMAND,
  loadViewerRelease,
  VIEWER_PIN,
  type ViewerRelease,
} from './viewer-release.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.webapp': 'application/manifest+json',
  '.html': 'text/html; charset=utf-8',
  '.xml': 'application/xml',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
};

/** webpack names chunks and WebAssembly by a 16-hex content hash: such a name never changes content. */
const CONTENT_HASHED = /(^|[./])[0-9a-f]{16}\.(js|wasm|css)$/;
/** What a file under /viewer/ may be called: no `..`, no hidden files, nothing to escape the release. */
const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

function extensionOf(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : undefined;
}

function acceptsGzip(c: Context<AppEnv>): boolean {
  return /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
}

async function fileSize(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A file of the release: its MIME type by extension, gzip-encoded when the fetch script left a .gz
 * beside it and the browser takes gzip; cached for a year when its name carries a content hash, else
 * revalidated by ETag (a new release replaces files under the same names).
 */
async function serveFile(
  c: Context<AppEnv>,
  release: Extract<ViewerRelease, { ok: true }>,
  rel: string,
): Promise<Response | undefined> {
  const type = TYPES[extensionOf(rel) ?? ''] ?? 'application/octet-stream';
  const path = release.dir + rel;
  const plain = await fileSize(path);
  if (!plain) return undefined;
  const gz = acceptsGzip(c) ? await fileSize(`${path}.gz`) : undefined;
  const etag = `"${release.version}-${plain.size.toString(36)}-${Math.trunc(plain.mtimeMs).toString(36)}${gz ? '-gz' : ''}"`;
  c.header('content-type', type);
  c.header('vary', 'accept-encoding');
  c.header('etag', etag);
  c.header(
    'cache-control',
    CONTENT_HASHED.test(rel) ? 'private, max-age=31536000, immutable' : 'private, no-cache',
  );
  if (c.req.header('if-none-match') === etag) return c.body(null, 304);
  if (gz) c.header('content-encoding', 'gzip');
  const body = gz ? `${path}.gz` : path;
  c.header('content-length', String(gz ? gz.size : plain.size));
  if (c.req.method === 'HEAD') return c.body(null, 200);
  return c.body(Readable.toWeb(createReadStream(body)) as ReadableStream<Uint8Array>, 200);
}

function notInstalled(c: Context<AppEnv>, reason: string) {
  const user = pageUser(c);
  c.status(503);
  return c.html(
    <Layout title="Viewer not installed" user={user}>
      <p>{reason}</p>
      <p>
        An operator installs it on the server with <code>{FETCH_VIEWER_COMMAND}</code>, which downloads{' '}
        {VIEWER_PIN.package}@{VIEWER_PIN.version} from the npm registry (<code>npm start</code> and the
        container image do this themselves). The studies stay available from the worklist meanwhile.
      </p>
      <p>
        <a href="/worklist">Back to the worklist</a>
      </p>
    </Layout>,
  );
}

/**
 * The OHIF viewer at /viewer/ (the console links to /viewer/viewer?StudyInstanceUIDs=<uid>). Everything
 * under /viewer/ needs the console session, like any console page: someone signed out is sent to the
 * sign-in page and back. The viewer then reads /dicomweb with the same cookie, under the same group
 * rules, so a study of another group is not found there either. Its pages get the viewer's CSP
 * (viewer-csp.ts) instead of the console's. A path that is not a file of the release is one of the
 * viewer's own routes and gets its index.html; a missing file with a file extension is a 404.
 *
 * Registered before the console, so the console's stricter headers never apply here.
 */
export function registerViewer(app: Hono<AppEnv>, dir = DEFAULT_VIEWER_DIR): void {
  // A release found is kept; a missing one is looked for again on the next request, so the viewer
  // works as soon as an operator has fetched it, without a restart.
  let loaded: Promise<ViewerRelease> | undefined;
  let warned = false;
  const release = (c: Context<AppEnv>) => {
    loaded ??= loadViewerRelease(dir).then((r) => {
      if (r.ok) return r;
      loaded = undefined;
      if (!warned)
        c.get('deps').log.warn({ event: 'viewer.not_installed', reason: r.reason }, 'viewer missing');
      warned = true;
      return r;
    });
    return loaded;
  };
  // Outside consoleHeaders, so it has the last word on a worker script's policy. (`/viewer/*` takes
  // in /viewer itself too.)
  const workerPolicy: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    const r = await release(c);
    if (c.res.ok && r.ok && r.workerScripts.has(c.req.path.slice('/viewer/'.length)))
      c.header('content-security-policy', VIEWER_WORKER_CONTENT_SECURITY_POLICY);
  };
  app.use('/viewer/*', workerPolicy, consoleHeaders(VIEWER_CONTENT_SECURITY_POLICY), requirePage());
  app.get('/viewer', (c) => c.redirect('/viewer/', 308));
  app.get('/viewer/app-config.js', (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    return c.body(VIEWER_APP_CONFIG_JS);
  });
  app.get(BOOT_SCRIPT, (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    return c.body(VIEWER_BOOT_JS);
  });
  app.get('/viewer/*', async (c) => {
    const r = await release(c);
    if (!r.ok) return notInstalled(c, r.reason);
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path.slice('/viewer/'.length));
    } catch {
      return c.notFound();
    }
    if (rel === '' || rel === 'index.html') return c.html(r.indexHtml);
    if (!SAFE_PATH.test(rel) || rel.endsWith('.gz')) return c.notFound();
    const file = await serveFile(c, r, rel);
    if (file) return file;
    // A missing script or image is a 404 (never HTML the browser would try to run); anything else
    // is one of the viewer's own routes.
    return TYPES[extensionOf(rel) ?? ''] ? c.notFound() : c.html(r.indexHtml);
  });
}
