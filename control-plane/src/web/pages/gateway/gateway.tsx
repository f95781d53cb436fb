import { FerryError, recipientKeyThumbprint } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { getDiagnostic } from '../../../services/get-diagnostic.js';
import { getGateway } from '../../../services/get-gateway.js';
import { getGatewaySeries, SERIES_RANGES } from '../../../services/get-gateway-series.js';
import { revokeGateway } from '../../../services/revoke-gateway.js';
import { startDiagnostic } from '../../../services/start-diagnostic.js';
import { servedReleaseVersion } from '../../components/served-release.js';
import { requireUuid } from '../../facility-fields.js';
import { pageUser, requirePage } from '../../page-context.js';
import { parseDiagnostic } from './diagnostic-forms.js';
import { DiagnosticPage } from './diagnostic-page.js';
import { GatewayCharts } from './gateway-charts.js';
import { GatewayPage } from './gateway-page.js';
import { registerGatewayRename } from './gateway-rename.js';
import { GatewayUpgrade, registerGatewayUpgrade } from './gateway-upgrade.js';

const NOTICES: Record<string, string> = {
  revoked: 'Gateway revoked',
  renamed: 'Gateway renamed',
  'upgrade-sent': 'Upgrade sent: the gateway reports its new version once it came back healthy',
};

/** A path id that is not a UUID names nothing: the same 404 as an unknown or another group's gateway. */
function idParam(c: Context<AppEnv>, name: string, noun = 'gateway'): string {
  return requireUuid(c.req.param(name) ?? '', noun);
}

/** A gateway's page (admins), its revocation, and the diagnostics run on it. */
export function registerGateway(web: Hono<AppEnv>): void {
  web.get('/gateways/:id', requirePage({ admin: true }), async (c) => {
    const g = await getGateway({ ctx: ctxOf(c), input: { id: idParam(c, 'id') } });
    const notice = NOTICES[c.req.query('notice') ?? ''];
    const currentKey = await recipientKeyThumbprint(c.get('deps').recipientPublicKey);
    const range = SERIES_RANGES.find((r) => r === c.req.query('range')) ?? '24h';
    const series = await getGatewaySeries({ ctx: ctxOf(c), input: { gatewayId: g.id, range } });
    const charts = <GatewayCharts gatewayId={g.id} series={series} />;
    return c.html(
      <GatewayPage
        user={pageUser(c)}
        g={g}
        notice={notice}
        currentKey={currentKey}
        charts={charts}
        upgrade={<GatewayUpgrade user={pageUser(c)} g={g} served={await servedReleaseVersion(c)} />}
      />,
    );
  });

  registerGatewayRename(web);
  registerGatewayUpgrade(web);

  web.post('/gateways/:id/revoke', requirePage({ admin: true }), async (c) => {
    const g = await revokeGateway({ ctx: ctxOf(c), input: { id: idParam(c, 'id') } });
    return c.redirect(`/gateways/${g.id}?notice=revoked`, 303);
  });

  web.post(
    '/gateways/:id/diagnostics/:kind{echo|upload-test|logs}',
    requirePage({ admin: true }),
    async (c) => {
      const id = idParam(c, 'id');
      const ctx = ctxOf(c);
      const parsed = parseDiagnostic(c.req.param('kind'), await c.req.parseBody());
      if (!parsed.ok) {
        const g = await getGateway({ ctx, input: { id } });
        c.status(400);
        return c.html(
          <GatewayPage
            user={pageUser(c)}
            g={g}
            forms={{ ...parsed.forms, errors: parsed.errors, error: 'Check the highlighted fields.' }}
          />,
        );
      }
      try {
        const started = await startDiagnostic({ ctx, input: { gatewayId: id, request: parsed.request } });
        return c.redirect(`/gateways/${id}/diagnostics/${started.id}`, 303);
      } catch (err) {
        const code = err instanceof FerryError ? err.code : undefined;
        if (code !== 'gateway.offline' && code !== 'diagnostic.peer_not_listed') throw err;
        const message = (err as FerryError).message;
        const g = await getGateway({ ctx, input: { id } });
        const request = parsed.request;
        c.status(code === 'gateway.offline' ? 409 : 400);
        return c.html(
          <GatewayPage
            user={pageUser(c)}
            g={g}
            forms={{
              error: `Could not start the diagnostic: ${message}.`,
              ...(request.kind === 'echo'
                ? { echo: { peer: request.peer ?? '', callingAeTitle: request.callingAeTitle ?? '' } }
                : {}),
            }}
          />,
        );
      }
    },
  );

  web.get('/gateways/:id/diagnostics/:diagnosticId', requirePage({ admin: true }), async (c) => {
    const gatewayId = idParam(c, 'id');
    const diagnosticId = idParam(c, 'diagnosticId', 'diagnostic');
    const d = await getDiagnostic({ ctx: ctxOf(c), input: { gatewayId, diagnosticId } });
    return c.html(<DiagnosticPage user={pageUser(c)} gatewayId={gatewayId} d={d} />);
  });
}
