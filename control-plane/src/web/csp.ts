import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../edge/types.js';

/**
 * Headers for every console page and asset. No inline script or style is allowed, and nothing is
 * loaded from another origin: hospitals block CDNs, and a CSP this strict makes injected markup inert.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The console's response headers, plus `server-timing: app;dur=MS` (the time from here to the
 * handler's response, excluding the network) so the console benchmark measures the server side.
 * The viewer (src/viewer) passes its own, wider `policy`; every other page keeps this one.
 */
export function consoleHeaders(policy = CONTENT_SECURITY_POLICY): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    c.header('server-timing', `app;dur=${(performance.now() - started).toFixed(1)}`);
    c.header('content-security-policy', policy);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    c.header('x-frame-options', 'DENY');
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  };
}
