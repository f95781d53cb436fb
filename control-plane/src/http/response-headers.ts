import type { Context } from 'hono';
import type { AppEnv } from './types.js';

/** One year: browsers remember to use HTTPS only for this long after each HTTPS answer. */
export const HSTS_VALUE = 'max-age=31536000';

/** Static files that hold no patient data keep their own caching: the console's assets, the agent release. */
const CACHEABLE_PREFIXES = ['/assets/', '/downloads/'];

/** Whether the request reached the client over HTTPS: TLS terminated here (the URL's scheme). */
function arrivedOverHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

/**
 * Headers every answer gets. API, DICOMweb and console answers carry patient data or session state,
 * so no cache (browser, proxy, disk) may keep them; HTTPS answers pin the browser to HTTPS (browsers
 * ignore the header on plain HTTP, so setting it there would do nothing).
 */
export function setResponseSecurityHeaders(c: Context<AppEnv>): void {
  const path = c.req.path;
  if (!CACHEABLE_PREFIXES.some((p) => path.startsWith(p))) c.header('cache-control', 'no-store');
  if (arrivedOverHttps(c)) c.header('strict-transport-security', HSTS_VALUE);
}
