// The control plane's HTTP app (edge, routes, console, viewer); server.ts runs it beside the websocket hub
// and the jobs. What the control plane keeps (docs/architecture.md): replicas are stateless (rows in
// PostgreSQL, blobs in the blob store, fan-out through LISTEN/NOTIFY); every state change and every blob
// read goes through a service, which takes the actor and tenant from its context, checks permission first
// and writes its audit row in the same transaction; a receipt is issued only for an object opened,
// authenticated and hashed whole, indexed from the control plane's own parse of its header.
import { randomUUID } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AppDeps } from './app-deps.js';
import { errorResponse } from './edge/errors.js';
import { setResponseSecurityHeaders } from './edge/response-headers.js';
import type { AppEnv } from './edge/types.js';
import { registerRoutes } from './routes/index.js';
import { registerMetrics } from './routes/metrics.js';
import { registerViewer } from './viewer/viewer-routes.js';
import { createConsole } from './web/index.js';

const MAX_BODY_BYTES = 1 << 20;

/** Builds the HTTP app from its dependencies; no module-level state, so tests make as many as they like. */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const detail = result.error.issues
          .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
          .join('; ');
        return errorResponse(c, new FerryError('request.invalid', detail));
      }
    },
  });

  app.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.-]{8,64}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('deps', deps);
    const started = performance.now();
    try {
      await next();
    } catch (err) {
      // Hono passes only Error instances to onError; anything else thrown still gets the error shape.
      c.res = errorResponse(c, err);
    }
    c.header('x-request-id', requestId);
    setResponseSecurityHeaders(c);
    deps.log.info(
      {
        event: 'http.request',
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });

  registerMetrics(app, deps, deps.metricsToken);

  // Every body but the fs store's part PUTs (routes/blob-parts.ts, which take a part's exact signed
  // length): the console's forms too, which parseBody() would otherwise read whole into memory.
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      errorResponse(c, new FerryError('request.too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`)),
  });
  app.use('*', (c, next) => (c.req.path.startsWith('/blobs/') ? next() : limitBody(c, next)));
  app.use('/api/*', async (c, next) => {
    const method = c.req.method;
    const hasBody =
      (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
    if ((method === 'POST' || method === 'PATCH' || method === 'PUT') && hasBody) {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(type)) {
        throw new FerryError(
          'request.unsupported_media_type',
          `send JSON (Content-Type: application/json), not "${type || 'none'}"`,
        );
      }
    }
    await next();
  });

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) =>
    errorResponse(c, new FerryError('resource.not_found', `no route for ${c.req.method} ${c.req.path}`)),
  );

  registerRoutes(app, deps);
  registerViewer(app);
  app.route('/', createConsole());

  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Ferry control plane', version: '1' },
  });
  return app;
}
