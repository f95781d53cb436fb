import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { Ctx } from '../context.js';
import type { AppEnv } from './types.js';

export function clientIp(c: Context<AppEnv>): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

/** The service context for this request: the actor was set by `authenticate`. */
export function ctxOf(c: Context<AppEnv>): Ctx {
  const deps = c.get('deps');
  return {
    db: deps.database.db,
    actor: c.get('actor') ?? { kind: 'system' },
    requestId: c.get('requestId'),
    ip: clientIp(c),
    log: deps.log.child({ requestId: c.get('requestId') }),
  };
}
