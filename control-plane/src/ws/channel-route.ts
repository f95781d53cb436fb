import {
  CHANNEL_ERROR_HEADER,
  CHANNEL_PATH,
  CHANNEL_REENROLL_HEADER,
  ERROR_CODES,
  FerryError,
} from '@ferry/shared';
import { upgradeWebSocket } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { authenticate } from '../edge/auth-middleware.js';
import { clientIp } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { requireAgent } from '../services/permissions.js';
import type { ChannelHub } from './channel-hub.js';

/**
 * An upgrade refusal has no body (the adapter writes status and headers only), so the Ferry error
 * travels in headers.
 */
function refuseUpgrade(c: Context<AppEnv>, err: unknown): Response {
  const headers = new Headers({ 'x-request-id': c.get('requestId') });
  if (err instanceof FerryError) {
    headers.set(CHANNEL_ERROR_HEADER, err.code);
    if (err.code === 'auth.reenroll') headers.set(CHANNEL_REENROLL_HEADER, '1');
    return new Response(null, { status: ERROR_CODES[err.code].http, headers });
  }
  c.get('deps').log.error({ err, requestId: c.get('requestId') }, 'channel upgrade failed');
  headers.set(CHANNEL_ERROR_HEADER, 'internal.unexpected');
  return new Response(null, { status: 500, headers });
}

/**
 * GET CHANNEL_PATH: the agents' control channel. The agent token is checked exactly as on every agent
 * route, before the upgrade: a refused agent never gets a socket.
 */
export function registerChannel(app: OpenAPIHono<AppEnv>, hub: ChannelHub): void {
  const auth = authenticate('agent');
  app.get(CHANNEL_PATH, async (c) => {
    const upgrade = c.req.header('upgrade')?.toLowerCase() === 'websocket';
    try {
      await auth(c, async () => {});
    } catch (err) {
      if (!upgrade) throw err;
      return refuseUpgrade(c, err);
    }
    if (!upgrade)
      throw new FerryError(
        'request.invalid',
        "this is the agents' control channel: open it as a websocket (Upgrade: websocket)",
      );
    const actor = requireAgent(c.get('actor'));
    return upgradeWebSocket(c, hub.events(actor, clientIp(c)));
  });
}
