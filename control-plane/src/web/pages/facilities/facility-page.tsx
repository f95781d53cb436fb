import { GATEWAY_CONFIG_DEFAULTS, type UserIdentitySetting } from '@ferry/shared';
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { countGatewaysByFacility } from '../../../services/count-gateways-by-facility.js';
import { getGatewaySettings } from '../../../services/get-gateway-settings.js';
import type { InstallCommand } from '../../../services/install-command.js';
import { listEnrollmentTokens } from '../../../services/list-enrollment-tokens.js';
import type { FacilityRow } from '../../../services/list-facilities.js';
import { Csrf } from '../../components/field.js';
import { GatewaySettingsForm, type SettingsFormState } from '../../components/gateway-settings-form.js';
import { When } from '../../facility-fields.js';
import { Layout } from '../../layout.js';
import { type PageUser, pageUser } from '../../page-context.js';
import {
  EnrollmentTokens,
  TOKEN_FORM_DEFAULTS,
  type TokenFormErrors,
  type TokenFormValues,
} from './enrollment-tokens.js';
import { type FacilityErrors, FacilityForm, type FacilityValues } from './facility-form.js';
import { facilityScope } from './facility-settings-scope.js';

/** What one facility's page shows besides the facility itself: a form shown again, a notice, a new token. */
export interface FacilityPageState {
  values?: FacilityValues;
  errors?: FacilityErrors;
  tokenValues?: TokenFormValues;
  tokenErrors?: TokenFormErrors;
  deleteError?: string;
  /** The install line of a token created by this very request (and the token itself): shown once. */
  install?: InstallCommand & { token: string };
  notice?: string | undefined;
  /** The gateway settings form as posted, with the reasons it was refused. */
  settings?: SettingsFormState;
}

/** The install line (or, without one, the bare token) of a token just created: shown this once. */
function InstallBox({
  install,
  facilityName,
}: {
  install: InstallCommand & { token: string };
  facilityName: string;
}) {
  return (
    <section class="card install-box" aria-labelledby="install-heading">
      <h2 id="install-heading">Install command</h2>
      {install.installCommand ? (
        <>
          <p>
            Run this on the gateway host (Linux x64, with curl and sudo) to install the agent from this
            control plane and enroll it into {facilityName}:
          </p>
          <pre id="install-command">{install.installCommand}</pre>
          <button type="button" data-copy="install-command">
            Copy install command
          </button>
        </>
      ) : (
        <>
          <p role="alert">
            There is no install command: {install.unavailable} The enrollment token, for an agent installed by
            other means:
          </p>
          <pre id="enrollment-token">{install.token}</pre>
        </>
      )}
      <p>
        It enrolls only with this control plane's encryption key, thumbprint{' '}
        <code id="key-thumbprint">{install.keyThumbprint}</code>.
      </p>
      <p>
        <strong>This command is shown only once.</strong> Ferry keeps only a hash of the token; if you lose
        it, revoke the token and create a new one.
      </p>
    </section>
  );
}

/** What a sender must present to store, in the words of the userIdentity setting in force. */
function identityWords(identity: UserIdentitySetting): string {
  switch (identity.require) {
    case 'none':
      return 'Senders need no DICOM user identity to store (userIdentity).';
    case 'username':
      return identity.usernames.length === 0
        ? 'Senders must give a DICOM username to store.'
        : `Senders must give one of these DICOM usernames to store: ${identity.usernames.join(', ')}.`;
    case 'username-password':
      return `Senders must give a DICOM username and password to store (users: ${identity.users.map((u) => u.username).join(', ')}).`;
    case 'jwt':
      return `Senders must give a JWT signed by one of ${identity.jwks.keys.length} configured key(s) to store.`;
  }
}

/** Who may store to the facility's gateways, and every gateway setting: the group's or its own. */
function GatewaySettings({
  allowedCallers,
  identity,
  commitmentWaitMinutes,
  children,
}: {
  allowedCallers: string[];
  identity: UserIdentitySetting;
  commitmentWaitMinutes: number;
  children: Child;
}) {
  return (
    <section aria-labelledby="settings-heading">
      <h2 id="settings-heading">Gateway settings</h2>
      {allowedCallers.length === 0 ? (
        <p class="notice bad" id="open-to-any-caller">
          Any machine on the network can store images to this facility's gateways: they accept every calling
          AE title. Set <code>allowedCallingAeTitles</code> in the gateway settings to accept only your
          modalities.
        </p>
      ) : (
        <p id="allowed-callers">
          Only these calling AE titles can store to this facility's gateways:{' '}
          {allowedCallers.map((t, i) => (
            <>
              {i > 0 ? ', ' : ''}
              <code>{t}</code>
            </>
          ))}
          .
        </p>
      )}
      <p id="user-identity">{identityWords(identity)}</p>
      <p id="storage-commitment">
        A modality that asks for storage commitment hears an image is committed once the cloud holds it, and
        failed if it is not there {commitmentWaitMinutes} minutes after the request
        (storageCommitment.maxWaitMinutes).
      </p>
      <p>
        Each setting is your group's (<a href="/settings/gateways">Gateway defaults</a>) unless this facility
        sets its own.
      </p>
      {children}
    </section>
  );
}

function FacilitySettingsForm(props: {
  user: PageUser;
  base: string;
  facility: FacilityRow;
  groupSettings: NonNullable<FacilityRow['gatewaySettings']>;
  gateways: number;
  state: SettingsFormState | undefined;
}) {
  const { user, base, facility, groupSettings, gateways, state } = props;
  return (
    <GatewaySettingsForm
      user={user}
      action={`${base}/settings`}
      validateAction={`${base}/settings/validate`}
      scope={facilityScope(facility, groupSettings, gateways)}
      state={state}
      intro={`Saving pushes the new config to this facility's ${gateways === 1 ? '1 gateway' : `${gateways} gateways`}.`}
    />
  );
}

/** One facility: its details form, gateway settings, enrollment tokens and the delete button. */
export async function renderFacilityPage(
  c: Context<AppEnv>,
  facility: FacilityRow,
  state: FacilityPageState,
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const user = pageUser(c);
  const ctx = ctxOf(c);
  const [tokens, gatewayCounts, group] = await Promise.all([
    listEnrollmentTokens({ ctx, input: { facilityId: facility.id } }),
    countGatewaysByFacility({ ctx }),
    getGatewaySettings({ ctx }),
  ]);
  const base = `/facilities/${facility.id}`;
  const values = state.values ?? {
    name: facility.name,
    aeTitle: facility.aeTitle,
    stablePeriodSeconds: String(facility.stablePeriodSeconds),
  };
  const settings = facility.gatewaySettings ?? {};
  // The facility's list wins over the group's, as in the config its gateways get.
  const allowedCallers = settings.allowedCallingAeTitles ?? group.settings.allowedCallingAeTitles ?? [];
  c.status(status);
  return c.html(
    <Layout
      title={facility.name}
      user={user}
      nav="facilities"
      notice={state.notice}
      scripts={['facilities.js', 'settings.js']}
      styles={['facilities.css', 'settings.css']}
    >
      <p>
        <a href="/facilities">All facilities</a>
      </p>
      {state.install ? <InstallBox install={state.install} facilityName={facility.name} /> : null}

      <section aria-labelledby="details-heading">
        <h2 id="details-heading">Details</h2>
        <dl class="facts">
          <dt>Gateways</dt>
          <dd>{gatewayCounts.get(facility.id) ?? 0}</dd>
          <dt>Created</dt>
          <dd>
            <When at={facility.createdAt} />
          </dd>
        </dl>
        <FacilityForm
          user={user}
          action={base}
          button="Save"
          values={values}
          errors={state.errors ?? {}}
          aeTitleNow={{ aeTitle: facility.aeTitle, aliases: facility.aeTitleAliases }}
        />
      </section>

      <GatewaySettings
        allowedCallers={allowedCallers}
        identity={settings.userIdentity ?? group.settings.userIdentity ?? { require: 'none' }}
        commitmentWaitMinutes={
          settings.storageCommitment?.maxWaitMinutes ??
          group.settings.storageCommitment?.maxWaitMinutes ??
          GATEWAY_CONFIG_DEFAULTS.storageCommitment.maxWaitMinutes
        }
      >
        <FacilitySettingsForm
          user={user}
          base={base}
          facility={facility}
          groupSettings={group.settings}
          gateways={gatewayCounts.get(facility.id) ?? 0}
          state={state.settings}
        />
      </GatewaySettings>

      <EnrollmentTokens
        user={user}
        base={base}
        tokens={tokens}
        values={state.tokenValues ?? TOKEN_FORM_DEFAULTS}
        errors={state.tokenErrors ?? {}}
      />

      <section aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete facility</h2>
        <p>Only a facility without active gateways can be deleted; revoke its gateways first.</p>
        {state.deleteError ? (
          <p class="field-error" id="delete-error" role="alert">
            {state.deleteError}
          </p>
        ) : null}
        <form
          method="post"
          action={`${base}/delete`}
          aria-label="Delete facility"
          data-confirm={`Delete facility "${facility.name}"? This cannot be undone.`}
        >
          <Csrf user={user} />
          <button type="submit" class="danger">
            Delete facility
          </button>
        </form>
      </section>
    </Layout>,
  );
}
