/**
 * CORS for DICOMweb viewers hosted on another origin (FERRY_CORS_ORIGINS), bearer tokens only.
 *
 * Not hono/cors: it answers a preflight from an origin it does not allow with a plain 204, and it
 * cannot refuse what must be refused here, a cross-origin call carried by the session cookie alone.
 * Rules: no Origin, or the console's own (or Sec-Fetch-Site: same-origin), is not CORS (no headers). A listed origin gets its own
 * origin back (never `*`, never Allow-Credentials: a page elsewhere must present a bearer token). A
 * preflight from an unlisted origin is refused (403 cors.origin_not_allowed); its other requests get
 * no CORS headers, so the browser keeps the answer from the page. A cross-origin request with the
 * session cookie and no bearer token is refused (403 auth.cross_origin) whatever the origin.
 */
import { FerryError } from '@ferry/shared';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { SESSION_COOKIE } from './auth-middleware.js';
import type { AppEnv } from './types.js';

const ALLOW_METHODS = 'GET, HEAD, OPTIONS';
const ALLOW_HEADERS = 'authorization, accept, content-type, range';
const EXPOSE_HEADERS = 'content-type, content-length, content-location';
/** How long a browser may reuse a preflight answer, in seconds. */
const MAX_AGE = '600';

/** The CORS middleware for /dicomweb/*; reads the allowed origins from the app's deps per request. */
export function dicomwebCors(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const origin = c.req.header('origin');
    const deps = c.get('deps');
    // Sec-Fetch-Site is set by the browser, not the page: the console reached under another name
    // than FERRY_PUBLIC_URL is still its own origin.
    const sameOrigin =
      origin === new URL(deps.publicUrl).origin || c.req.header('sec-fetch-site') === 'same-origin';
    if (origin === undefined || sameOrigin) return next();
    const bearer = /^Bearer\s+\S+$/i.test(c.req.header('authorization') ?? '');
    if (!bearer && getCookie(c, SESSION_COOKIE) !== undefined) {
      throw new FerryError(
        'auth.cross_origin',
        "the session cookie is accepted only from this console's own pages; a viewer on another origin sends Authorization: Bearer",
      );
    }
    const allowed = deps.corsOrigins?.has(origin) === true;
    const preflight =
      c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined;
    if (preflight) {
      if (!allowed) {
        throw new FerryError(
          'cors.origin_not_allowed',
          `${origin} is not among the origins allowed to call DICOMweb (FERRY_CORS_ORIGINS)`,
        );
      }
      return c.body(null, 204, {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOW_METHODS,
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': MAX_AGE,
        vary: 'Origin',
      });
    }
    await next();
    if (allowed) {
      c.res.headers.set('access-control-allow-origin', origin);
      c.res.headers.set('access-control-expose-headers', EXPOSE_HEADERS);
      c.res.headers.append('vary', 'Origin');
    }
  };
}
