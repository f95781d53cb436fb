import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { Ctx } from '../context.js';
import type { AppEnv } from './types.js';

/** An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; lists and logs want a.b.c.d. */
function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address;
}

function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/**
 * The client's address: the TCP peer, unless the peer is one of FERRY_TRUSTED_PROXIES, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first other address is the
 * client. Anyone can send the header, so it is ignored from any other peer (and when no proxy is
 * trusted); a malformed entry stops the walk at the last trusted hop.
 */
export function clientIp(c: Context<AppEnv>): string | undefined {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
  if (!peer) return undefined;
  let client = plainAddress(peer);
  const trusted = c.get('deps').trustedProxies;
  const isTrusted = (address: string) => {
    const family = familyOf(address);
    return family !== undefined && trusted?.check(address, family) === true;
  };
  if (!isTrusted(client)) return client;
  const hops = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((h) => plainAddress(h.trim()))
    .filter((h) => h !== '');
  for (const hop of hops.reverse()) {
    if (familyOf(hop) === undefined) break;
    client = hop;
    if (!isTrusted(hop)) break;
  }
  return client;
}

/** The service context for this request: the actor was set by `authenticate`. */
export function ctxOf(c: Context<AppEnv>): Ctx {
  const deps = c.get('deps');
  const requestId = c.get('requestId');
  // A child logger is built only when a service logs: most calls (agent and session checks among
  // them) never do, and building one per call is measurable at a thousand agent calls a second.
  let log: Ctx['log'] | undefined;
  return {
    db: deps.database.db,
    actor: c.get('actor') ?? { kind: 'system' },
    requestId,
    ip: clientIp(c),
    get log() {
      log ??= deps.log.child({ requestId });
      return log;
    },
  };
}
