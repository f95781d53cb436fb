import { FerryError, gatewayNameSchema } from '@ferry/shared';
import type { Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { getGateway } from '../../../services/get-gateway.js';
import { renameGateway } from '../../../services/rename-gateway.js';
import { requireUuid } from '../../facility-fields.js';
import { pageUser, requirePage } from '../../page-context.js';
import { GatewayNameSection } from './gateway-name-form.js';
import { GatewayPage } from './gateway-page.js';

/** POST /gateways/:id/name: the console's rename, the same service and rules as PATCH /api/v1/gateways/{id}. */
export function registerGatewayRename(web: Hono<AppEnv>): void {
  web.post('/gateways/:id/name', requirePage({ admin: true }), async (c) => {
    const id = requireUuid(c.req.param('id') ?? '', 'gateway');
    const ctx = ctxOf(c);
    const typed = String((await c.req.parseBody()).name ?? '');
    const parsed = gatewayNameSchema.safeParse(typed);
    let error: string;
    let status: 400 | 409;
    if (parsed.success) {
      try {
        await renameGateway({ ctx, input: { id, name: parsed.data } });
        return c.redirect(`/gateways/${id}?notice=renamed`, 303);
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'resource.conflict') throw err;
        error = err.message;
        status = 409;
      }
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      error = `${why.charAt(0).toUpperCase()}${why.slice(1)}.`;
      status = 400;
    }
    const g = await getGateway({ ctx, input: { id } });
    const user = pageUser(c);
    c.status(status);
    return c.html(
      <GatewayPage
        user={user}
        g={g}
        nameSection={<GatewayNameSection user={user} g={g} form={{ value: typed, error }} />}
      />,
    );
  });
}
