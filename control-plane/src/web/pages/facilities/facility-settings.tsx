import type { GatewaySettings } from '@ferry/shared';
import type { Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { getFacility } from '../../../services/get-facility.js';
import { updateFacility } from '../../../services/update-facility.js';
import { parseSettingsForm } from '../../components/gateway-setting-rows.js';
import { settingsFormProblems } from '../../components/gateway-settings-check.js';
import { requireUuid } from '../../facility-fields.js';
import { requirePage } from '../../page-context.js';
import { renderFacilityPage } from './facility-page.js';

/** Saving a facility's gateway settings from its page, and the dry run its form calls as you type. */
export function registerFacilitySettings(web: Hono<AppEnv>): void {
  const admin = requirePage({ admin: true });

  web.post('/facilities/:id/settings/validate', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const parsed = parseSettingsForm(await c.req.parseBody());
    return c.json({ problems: await settingsFormProblems(ctxOf(c), parsed, id) });
  });

  web.post('/facilities/:id/settings', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const ctx = ctxOf(c);
    const facility = await getFacility({ ctx, input: { id } });
    const parsed = parseSettingsForm(await c.req.parseBody());
    const problems = await settingsFormProblems(ctx, parsed, id);
    if (Object.keys(problems).length > 0)
      return renderFacilityPage(
        c,
        facility,
        { settings: { typed: parsed.typed, own: parsed.own, problems } },
        400,
      );
    await updateFacility({ ctx, input: { id, gateway: parsed.settings as GatewaySettings } });
    return c.redirect(`/facilities/${id}?notice=settings-saved#settings-heading`, 303);
  });
}
