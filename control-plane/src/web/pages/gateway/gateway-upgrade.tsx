import { compareReleaseVersions, FerryError } from '@ferry/shared';
import type { Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import type { GatewayDetail } from '../../../services/get-gateway.js';
import { getGateway } from '../../../services/get-gateway.js';
import { upgradeGateway } from '../../../services/upgrade-gateway.js';
import { Csrf } from '../../components/field.js';
import { servedReleaseVersion } from '../../components/served-release.js';
import { requireUuid } from '../../facility-fields.js';
import { type PageUser, pageUser, requirePage } from '../../page-context.js';
import { GatewayPage } from './gateway-page.js';

/** The version a gateway runs (its latest heartbeat's, else its hello's) against the served release. */
export function GatewayUpgrade({
  user,
  g,
  served,
  error,
}: {
  user: PageUser;
  g: GatewayDetail;
  served: string | undefined;
  error?: string | undefined;
}) {
  const runs = g.health?.agentVersion ?? g.version;
  const behind = served !== undefined && compareReleaseVersions(runs, served) < 0;
  return (
    <section aria-labelledby="gw-upgrade">
      <h2 id="gw-upgrade">Agent version</h2>
      {error ? (
        <p class="notice bad" id="upgrade-error" role="alert">
          {error}
        </p>
      ) : null}
      <p>
        Runs <strong data-agent-version>{runs}</strong>
        {served === undefined
          ? '. This control plane serves no signed agent release.'
          : behind
            ? `; this control plane serves ${served}.`
            : `, the release this control plane serves (${served}) or newer.`}
      </p>
      {behind && !g.revokedAt ? (
        <form method="post" action={`/gateways/${g.id}/upgrade`}>
          <Csrf user={user} />
          <p class="muted">
            The gateway downloads the release, checks its hash and signature, installs it beside the running
            one and restarts into it; if the new version does not come back healthy within a minute, it rolls
            back by itself. Studies in its spool are kept either way.
          </p>
          <button type="submit">Upgrade to {served}</button>
        </form>
      ) : null}
    </section>
  );
}

/** POST /gateways/:id/upgrade: the console's button, the same service as POST /api/v1/gateways/{id}/upgrade. */
export function registerGatewayUpgrade(web: Hono<AppEnv>): void {
  web.post('/gateways/:id/upgrade', requirePage({ admin: true }), async (c) => {
    const id = requireUuid(c.req.param('id') ?? '', 'gateway');
    const ctx = ctxOf(c);
    const agentRelease = c.get('deps').agentRelease;
    try {
      await upgradeGateway({ ctx, input: { gatewayId: id, release: () => agentRelease.descriptor() } });
      return c.redirect(`/gateways/${id}?notice=upgrade-sent`, 303);
    } catch (err) {
      if (
        !(err instanceof FerryError) ||
        (err.code !== 'gateway.offline' && err.code !== 'agent_release.missing')
      )
        throw err;
      const g = await getGateway({ ctx, input: { id } });
      const user = pageUser(c);
      c.status(err.code === 'gateway.offline' ? 409 : 404);
      return c.html(
        <GatewayPage
          user={user}
          g={g}
          upgrade={
            <GatewayUpgrade
              user={user}
              g={g}
              served={await servedReleaseVersion(c)}
              error={`Could not upgrade: ${err.message}.`}
            />
          }
        />,
      );
    }
  });
}
