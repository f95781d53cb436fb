import type { GatewaySettings } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { countGatewaysByFacility } from '../../../services/count-gateways-by-facility.js';
import { getGatewaySettings } from '../../../services/get-gateway-settings.js';
import { listFacilities } from '../../../services/list-facilities.js';
import { updateGatewaySettings } from '../../../services/update-gateway-settings.js';
import { builtInDefault, parseSettingsForm, settingValue } from '../../components/gateway-setting-rows.js';
import { gatewaysWord, settingsFormProblems } from '../../components/gateway-settings-check.js';
import {
  GatewaySettingsForm,
  GatewaySettingsList,
  type SettingsFormState,
  type SettingsScope,
} from '../../components/gateway-settings-form.js';
import { Layout } from '../../layout.js';
import { pageUser, requirePage } from '../../page-context.js';

const PATH = '/settings/gateways';

/**
 * The group's scope: each setting reaches the gateways of the facilities that do not override it
 * (a facility's own value wins over the group's).
 */
async function groupScope(c: Context<AppEnv>): Promise<{ scope: SettingsScope; total: number }> {
  const ctx = ctxOf(c);
  const [{ settings }, facilities, counts] = await Promise.all([
    getGatewaySettings({ ctx }),
    listFacilities({ ctx }),
    countGatewaysByFacility({ ctx }),
  ]);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const scope: SettingsScope = {
    kind: 'group',
    own: settings,
    inherited: builtInDefault,
    reach: (row) => {
      const overriding = facilities.filter(
        (f) => settingValue(f.gatewaySettings ?? {}, row.name) !== undefined,
      );
      const reached = total - overriding.reduce((n, f) => n + (counts.get(f.id) ?? 0), 0);
      const by =
        overriding.length === 0
          ? ''
          : `; ${overriding.length} facilit${overriding.length === 1 ? 'y overrides' : 'ies override'} it`;
      return `A change reaches ${gatewaysWord(reached)} of ${total}${by}.`;
    },
  };
  return { scope, total };
}

async function renderDefaults(
  c: Context<AppEnv>,
  state?: SettingsFormState,
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const user = pageUser(c);
  const { scope, total } = await groupScope(c);
  c.status(status);
  return c.html(
    <Layout
      title="Gateway defaults"
      user={user}
      nav="settings"
      notice={c.req.query('notice') === 'saved' ? 'Gateway defaults saved' : undefined}
      scripts={['settings.js']}
      styles={['settings.css']}
    >
      <p>
        Every gateway of your group runs these settings unless its facility sets its own on the facility's
        page. A setting nobody sets runs the built-in default.
      </p>
      {user.role === 'admin' ? (
        <GatewaySettingsForm
          user={user}
          action={PATH}
          validateAction={`${PATH}/validate`}
          scope={scope}
          state={state}
          intro={`Your group has ${gatewaysWord(total)}. Saving pushes the new config to each gateway it changes.`}
        />
      ) : (
        <GatewaySettingsList scope={scope} />
      )}
    </Layout>,
  );
}

/** The group's "Gateway defaults" page: admins edit, readers read; dry-run checks as typed. */
export function registerGatewayDefaults(web: Hono<AppEnv>): void {
  const admin = requirePage({ admin: true });
  web.get(PATH, requirePage(), (c) => renderDefaults(c));

  web.post(`${PATH}/validate`, admin, async (c) => {
    const parsed = parseSettingsForm(await c.req.parseBody());
    return c.json({ problems: await settingsFormProblems(ctxOf(c), parsed) });
  });

  web.post(PATH, admin, async (c) => {
    const ctx = ctxOf(c);
    const parsed = parseSettingsForm(await c.req.parseBody());
    const problems = await settingsFormProblems(ctx, parsed);
    if (Object.keys(problems).length > 0)
      return renderDefaults(c, { typed: parsed.typed, own: parsed.own, problems }, 400);
    await updateGatewaySettings({ ctx, input: { settings: parsed.settings as GatewaySettings } });
    return c.redirect(`${PATH}?notice=saved`, 303);
  });
}
