import { ERROR_CODES, FerryError } from '@ferry/shared';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from '../edge/types.js';
import { asClientError } from '../services/client-text-error.js';
import { registerAssets } from './assets.js';
import { consoleHeaders } from './csp.js';
import { Layout } from './layout.js';
import { pageUser, requirePage } from './page-context.js';
import { registerAccount } from './pages/account.js';
import { registerAlertsPage } from './pages/alerts/alerts.js';
import { registerAudit } from './pages/audit/audit.js';
import { registerFacilities } from './pages/facilities/facilities.js';
import { registerFleet } from './pages/fleet/fleet.js';
import { registerGateway } from './pages/gateway/gateway.js';
import { registerLogin } from './pages/login.js';
import { registerGatewayDefaults } from './pages/settings/gateway-defaults.js';
import { registerStudy } from './pages/study.js';
import { registerUsers } from './pages/users.js';
import { registerWorklist } from './pages/worklist/worklist.js';

/**
 * The web console: server-rendered pages (hono/jsx) that call the same services as the API, under the
 * same tenant rules. Errors render as pages, not JSON.
 */
export function createConsole(): Hono<AppEnv> {
  const web = new Hono<AppEnv>();
  web.use('*', consoleHeaders());
  registerAssets(web);
  registerLogin(web);
  registerAccount(web);
  registerFacilities(web);
  registerGatewayDefaults(web);
  registerUsers(web);
  registerAudit(web);
  registerFleet(web);
  registerAlertsPage(web);
  registerGateway(web);
  registerWorklist(web);
  registerStudy(web);
  web.get('/', requirePage(), (c) => c.redirect(pageUser(c).role === 'admin' ? '/fleet' : '/worklist', 303));
  web.onError((thrown, c) => {
    const err = asClientError(thrown);
    const known = err instanceof FerryError;
    const status = (known ? ERROR_CODES[err.code].http : 500) as ContentfulStatusCode;
    if (!known) c.get('deps')?.log.error({ err, requestId: c.get('requestId') }, 'console page failed');
    c.status(status);
    return c.html(
      <Layout title={status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}>
        <p>{known ? err.message : `An unexpected error happened. Quote request id ${c.get('requestId')}.`}</p>
        <p>
          <a href="/">Back to the console</a>
        </p>
      </Layout>,
    );
  });
  return web;
}
