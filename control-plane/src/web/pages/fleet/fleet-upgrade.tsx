import { FerryError } from '@ferry/shared';
import type { Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import type { FacilityRow } from '../../../services/list-facilities.js';
import { startUpgradeRollout } from '../../../services/start-upgrade-rollout.js';
import { Csrf } from '../../components/field.js';
import { requireUuid } from '../../facility-fields.js';
import { type PageUser, requirePage } from '../../page-context.js';

/** What the fleet page says after a rollout was asked for (`?upgrade=`), as a fixed set of outcomes. */
const OUTCOMES: Record<string, { text: string; bad: boolean }> = {
  started: {
    text: 'Upgrade started: the canary gateway was sent the release; the others follow once it is back online on the new version.',
    bad: false,
  },
  'none-behind': { text: 'Every gateway there already runs the served release or newer.', bad: true },
  'none-online': {
    text: 'None of the gateways behind the served release is online to be the canary; try again when one is.',
    bad: true,
  },
};

/** The fleet's upgrade form: every gateway behind the served release, of one facility or all, canary first. */
export function FleetUpgrade({
  user,
  facilities,
  served,
  outcome,
}: {
  user: PageUser;
  facilities: FacilityRow[];
  served: string | undefined;
  outcome: string | undefined;
}) {
  if (served === undefined) return null;
  const said = outcome ? OUTCOMES[outcome] : undefined;
  return (
    <section aria-labelledby="fleet-upgrade">
      <h2 id="fleet-upgrade">Upgrade gateways to {served}</h2>
      {said ? (
        <p class={said.bad ? 'notice bad' : 'notice'} role="status" id="fleet-upgrade-outcome">
          {said.text}
        </p>
      ) : null}
      <form method="post" action="/fleet/upgrade" class="filters">
        <Csrf user={user} />
        <div>
          <label for="upgrade-facility">Gateways of</label>
          <select id="upgrade-facility" name="facilityId">
            <option value="">All facilities</option>
            {facilities.map((f) => (
              <option value={f.id}>
                {f.name} ({f.aeTitle})
              </option>
            ))}
          </select>
        </div>
        <div>
          <button type="submit">Upgrade, canary first</button>
        </div>
      </form>
      <p class="muted">
        One gateway behind {served} upgrades first; the rest only once it came back online on the new version.
        A gateway that is not back healthy within a minute rolls back by itself.
      </p>
    </section>
  );
}

/** POST /fleet/upgrade: the same service as POST /api/v1/upgrades. */
export function registerFleetUpgrade(web: Hono<AppEnv>): void {
  web.post('/fleet/upgrade', requirePage({ admin: true }), async (c) => {
    const raw = String((await c.req.parseBody()).facilityId ?? '');
    const facilityId = raw === '' ? undefined : requireUuid(raw, 'facility');
    const agentRelease = c.get('deps').agentRelease;
    try {
      await startUpgradeRollout({
        ctx: ctxOf(c),
        input: { facilityId, release: () => agentRelease.descriptor() },
      });
      return c.redirect('/fleet?upgrade=started', 303);
    } catch (err) {
      const code = err instanceof FerryError ? err.code : undefined;
      if (code === 'resource.conflict') return c.redirect('/fleet?upgrade=none-behind', 303);
      if (code === 'gateway.offline') return c.redirect('/fleet?upgrade=none-online', 303);
      throw err;
    }
  });
}
