import type { Child } from 'hono/jsx';
import type { GatewayDetail } from '../../../services/get-gateway.js';
import { Csrf, fieldAria, Labelled } from '../../components/field.js';
import { formatDuration, formatVersion } from '../../components/fleet-format.js';
import { StackTable } from '../../components/stack-table.js';
import { StatusBadge } from '../../components/status-badge.js';
import { Layout } from '../../layout.js';
import type { PageUser } from '../../page-context.js';
import { AeTitleAliasUse } from './ae-title-alias-use.js';
import { CodingReport } from './coding-report.js';
import { type DiagnosticForms, EchoForm, listedPeers } from './diagnostic-forms.js';
import { HealthFacts, RecipientKeyFacts, show, When } from './gateway-facts.js';
import { GatewayNameSection } from './gateway-name-form.js';
import { LocalOverrides } from './local-overrides.js';

/** The revoke form's confirmation, as the browser asks it. */
export const REVOKE_CONFIRM = 'Revoke this gateway? It must be enrolled again to send studies.';

/** One gateway: status and health, conditions, config, diagnostics, recent events, revoke. */
export function GatewayPage({
  user,
  g,
  notice,
  forms = {},
  currentKey,
  nameSection,
  charts,
  upgrade,
}: {
  user: PageUser;
  g: GatewayDetail;
  notice?: string | undefined;
  forms?: DiagnosticForms;
  /** RFC 7638 thumbprint of the control plane's current recipient key, to compare with the gateway's. */
  currentKey?: string | undefined;
  /** The name and rename form, given when a refused rename shows its error (gateway-name-form.tsx). */
  nameSection?: Child;
  /** The activity charts (gateway-charts.tsx). */
  charts?: Child;
  /** The agent version and the upgrade button (gateway-upgrade.tsx). */
  upgrade?: Child;
}) {
  const base = `/gateways/${g.id}`;
  const errors = forms.errors ?? {};
  const echo = forms.echo ?? { peer: '', callingAeTitle: '' };
  const peers = listedPeers(g.config);
  const configEntries = Object.entries(g.config ?? {});
  return (
    <Layout
      title={`Gateway ${g.name}`}
      user={user}
      nav="fleet"
      notice={notice}
      scripts={['fleet.js']}
      styles={['fleet.css']}
    >
      <p>
        <a href="/fleet">Back to the fleet</a>
      </p>
      {nameSection ?? <GatewayNameSection user={user} g={g} />}
      <section aria-labelledby="gw-status">
        <h2 id="gw-status">Status</h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={g.status} revoked={g.revokedAt !== null} />
          </dd>
          <dt>Since</dt>
          <dd>
            <When at={g.statusSince} />
          </dd>
          <dt>Last heartbeat</dt>
          <dd>
            <When at={g.lastHeartbeatAt} />
          </dd>
          <dt>Last seen</dt>
          <dd>
            <When at={g.lastSeenAt} />
          </dd>
          <dt>Version</dt>
          <dd>{g.health?.agentVersion ?? g.version}</dd>
          <dt>Uptime</dt>
          <dd>
            {g.health ? formatDuration(g.health.uptimeSeconds) : <span class="muted">not reported</span>}
          </dd>
          <dt>Facility</dt>
          <dd>
            {g.facility.name} (AE title <code>{g.facility.aeTitle}</code>)
          </dd>
          <dt>Enrolled</dt>
          <dd>
            <When at={g.enrolledAt} />
          </dd>
          <RecipientKeyFacts reported={g.health?.recipientKeyThumbprint} current={currentKey} />
          {g.health ? <HealthFacts h={g.health} /> : null}
          {g.revokedAt ? (
            <>
              <dt>Revoked</dt>
              <dd>
                <When at={g.revokedAt} />
              </dd>
            </>
          ) : null}
        </dl>
      </section>

      <section aria-labelledby="gw-conditions">
        <h2 id="gw-conditions">Conditions</h2>
        {g.conditions.length === 0 ? (
          <p>No conditions</p>
        ) : (
          <StackTable label="Conditions" columns={['Code', 'Severity', 'Message', 'Since']}>
            {g.conditions.map((cond) => (
              <tr>
                <td data-label="Code">
                  <code>{cond.code}</code>
                </td>
                <td data-label="Severity">
                  <span class={`badge ${cond.severity}`}>{cond.severity}</span>
                </td>
                <td data-label="Message">{cond.message}</td>
                <td data-label="Since">
                  <When at={cond.since} />
                </td>
              </tr>
            ))}
          </StackTable>
        )}
      </section>

      <AeTitleAliasUse health={g.health} />
      <CodingReport health={g.health} />
      {upgrade}
      {charts}
      <section aria-labelledby="gw-config">
        <h2 id="gw-config">Config</h2>
        <dl class="facts">
          <dt>Desired version</dt>
          <dd data-config="desired">{formatVersion(g.configVersion)}</dd>
          <dt>Applied version</dt>
          <dd data-config="applied">
            {formatVersion(g.appliedConfigVersion)}
            {g.configVersion !== null && g.appliedConfigVersion !== g.configVersion ? (
              <span class="muted"> (not yet applied)</span>
            ) : null}
          </dd>
          {g.rejectedConfig ? (
            <>
              <dt>Rejected version</dt>
              <dd data-config="rejected">
                {formatVersion(g.rejectedConfig.version)}, <When at={g.rejectedConfig.at} />:{' '}
                <span class="rejected-reason">{g.rejectedConfig.reason}</span>
              </dd>
            </>
          ) : null}
        </dl>
        <LocalOverrides g={g} />
        {configEntries.length > 0 ? (
          <StackTable label="Desired config" columns={['Field', 'Value']}>
            {configEntries.map(([k, v]) => (
              <tr>
                <td data-label="Field">
                  <code>{k}</code>
                </td>
                <td data-label="Value">
                  <code>{show(v)}</code>
                </td>
              </tr>
            ))}
          </StackTable>
        ) : (
          <p class="muted">No desired config yet.</p>
        )}
      </section>

      <section aria-labelledby="gw-diagnostics">
        <h2 id="gw-diagnostics">Diagnostics</h2>
        {forms.error ? (
          <p class="notice bad" id="diagnostics-error" role="alert">
            {forms.error}
          </p>
        ) : null}
        <div class="diagnostics">
          <EchoForm
            user={user}
            action={`${base}/diagnostics/echo`}
            peers={peers}
            echo={echo}
            errors={errors}
            ownAeTitle={g.facility.aeTitle}
          />
          <form
            method="post"
            action={`${base}/diagnostics/upload-test`}
            class="card"
            aria-labelledby="diag-upload"
          >
            <h3 id="diag-upload">Upload test</h3>
            <Csrf user={user} />
            <p class="muted">Uploads a small test object from the gateway to the cloud store and back.</p>
            <button type="submit">Run upload test</button>
          </form>
          <form method="post" action={`${base}/diagnostics/logs`} class="card" aria-labelledby="diag-logs">
            <h3 id="diag-logs">Log bundle</h3>
            <Csrf user={user} />
            <Labelled id="logs-lines" label="Lines" error={errors['logs-lines']}>
              <input
                id="logs-lines"
                name="lines"
                type="number"
                min="1"
                max="5000"
                value={forms.lines ?? '200'}
                {...fieldAria('logs-lines', errors['logs-lines'])}
              />
            </Labelled>
            <button type="submit">Get log bundle</button>
          </form>
        </div>
      </section>

      <section aria-labelledby="gw-events">
        <h2 id="gw-events">Events</h2>
        {g.events.length === 0 ? (
          <p>No events yet</p>
        ) : (
          <ol class="timeline" aria-label="Recent events, newest first">
            {g.events.map((e) => (
              <li data-event-type={e.type}>
                <When at={e.at} /> <strong>{e.type}</strong>
                {Object.keys(e.details).length > 0 ? (
                  <span class="muted">
                    {' '}
                    {Object.entries(e.details)
                      .map(([k, v]) => `${k}: ${show(v)}`)
                      .join(', ')
                      .slice(0, 300)}
                  </span>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="gw-revoke">
        <h2 id="gw-revoke">Revoke</h2>
        {g.revokedAt ? (
          <p>
            This gateway was revoked on <When at={g.revokedAt} />. It must be enrolled again to send studies.
          </p>
        ) : (
          <form method="post" action={`${base}/revoke`} data-confirm={REVOKE_CONFIRM}>
            <Csrf user={user} />
            <p>
              A revoked gateway is refused at its next call and must be enrolled again with a new token.
              Studies it holds stay in its spool.
            </p>
            <button type="submit" class="danger">
              Revoke gateway
            </button>
          </form>
        )}
      </section>
    </Layout>
  );
}
