import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { AppEnv } from './types.js';

/** One year: browsers remember to use HTTPS only for this long after each HTTPS answer. */
export const HSTS_VALUE = 'max-age=31536000';

/**
 * Static files that hold no patient data keep their own caching: the console's assets, the agent
 * release, the viewer's release (src/viewer sets no-store on its page and config itself).
 */
const CACHEABLE_PREFIXES = ['/assets/', '/downloads/', '/viewer/'];

/** Whether the TCP peer is one of FERRY_TRUSTED_PROXIES. */
function fromTrustedProxy(c: Context<AppEnv>): boolean {
  const trusted = c.get('deps').trustedProxies;
  if (!trusted) return false;
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    return false;
  }
  const family = peer ? isIP(peer) : 0;
  return family !== 0 && trusted.check(peer ?? '', family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether the request reached us over HTTPS: TLS terminated here (the URL's scheme), or by a trusted
 * proxy that says so in X-Forwarded-Proto (its first value: the scheme the client used). Anyone else's
 * X-Forwarded-Proto is ignored.
 */
function arrivedOverHttps(c: Context<AppEnv>): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  const proto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return proto === 'https' && fromTrustedProxy(c);
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
