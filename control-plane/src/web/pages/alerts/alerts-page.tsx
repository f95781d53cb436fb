import type { AlertView } from '../../../services/list-alerts.js';
import type { NotificationChannelView } from '../../../services/list-notification-channels.js';
import type { WebhookView } from '../../../services/list-webhooks.js';
import { Csrf, fieldAria, Labelled } from '../../components/field.js';
import { StackTable } from '../../components/stack-table.js';
import { When } from '../../facility-fields.js';
import { Layout } from '../../layout.js';
import type { PageUser } from '../../page-context.js';

export interface ChannelForm {
  kind: string;
  target: string;
  error?: string | undefined;
}

function AlertRows({ user, alerts }: { user: PageUser; alerts: AlertView[] }) {
  return (
    <StackTable label="Open alerts" columns={['Since', 'Severity', 'Condition', 'Gateway', 'Acknowledged']}>
      {alerts.map((a) => (
        <tr data-alert={a.id}>
          <td data-label="Since">
            <When at={a.since} />
          </td>
          <td data-label="Severity">
            <span class={`badge ${a.severity}`}>{a.severity}</span>
          </td>
          <td data-label="Condition">
            <code>{a.code}</code> {a.message}
          </td>
          <td data-label="Gateway">
            <a href={`/gateways/${a.gateway.id}`}>{a.gateway.hostname}</a>{' '}
            <span class="muted">({a.gateway.facilityName})</span>
          </td>
          <td data-label="Acknowledged">
            {a.acknowledged ? (
              <span>
                by {a.acknowledged.by ?? 'a removed user'}, <When at={a.acknowledged.at} />
              </span>
            ) : (
              <form method="post" action={`/alerts/${a.id}/acknowledge`} class="inline-form">
                <Csrf user={user} />
                <button type="submit" aria-label={`Acknowledge ${a.code} on ${a.gateway.hostname}`}>
                  Acknowledge
                </button>
              </form>
            )}
          </td>
        </tr>
      ))}
    </StackTable>
  );
}

function Channels({
  user,
  channels,
  webhooks,
  form,
  smtpConfigured,
}: {
  user: PageUser;
  channels: NotificationChannelView[];
  webhooks: WebhookView[];
  form: ChannelForm;
  smtpConfigured: boolean;
}) {
  const error = form.error;
  return (
    <section aria-labelledby="alert-channels">
      <h2 id="alert-channels">Notification channels</h2>
      <p>
        Each channel gets one notice when an alert opens and one when it has cleared, not one per heartbeat.
        {smtpConfigured ? null : (
          <strong> E-mail needs FERRY_SMTP_URL on the control plane; it is not set.</strong>
        )}
      </p>
      {channels.length + webhooks.length === 0 ? (
        <p>No channels yet: alerts show here only.</p>
      ) : (
        <StackTable label="Notification channels" columns={['Kind', 'Sends to', 'Added', 'Remove']}>
          {channels.map((ch) => (
            <tr>
              <td data-label="Kind">{ch.kind === 'email' ? 'E-mail' : 'Slack/Teams'}</td>
              <td data-label="Sends to">{ch.label}</td>
              <td data-label="Added">
                <When at={ch.createdAt} />
              </td>
              <td data-label="Remove">
                <form method="post" action={`/alerts/channels/${ch.id}/delete`} class="inline-form">
                  <Csrf user={user} />
                  <button
                    type="submit"
                    class="secondary"
                    aria-label={`Remove ${ch.kind} channel ${ch.label}`}
                  >
                    Remove
                  </button>
                </form>
              </td>
            </tr>
          ))}
          {webhooks.map((w) => (
            <tr>
              <td data-label="Kind">Signed webhook</td>
              <td data-label="Sends to">{new URL(w.url).origin}</td>
              <td data-label="Added">
                <When at={w.createdAt} />
              </td>
              <td data-label="Remove">
                <form method="post" action={`/alerts/webhooks/${w.id}/delete`} class="inline-form">
                  <Csrf user={user} />
                  <button
                    type="submit"
                    class="secondary"
                    aria-label={`Remove webhook ${new URL(w.url).origin}`}
                  >
                    Remove
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </StackTable>
      )}
      <form method="post" action="/alerts/channels" class="narrow" novalidate>
        <Csrf user={user} />
        <Labelled id="channel-kind" label="Kind">
          <select id="channel-kind" name="kind">
            <option value="email" selected={form.kind === 'email'}>
              E-mail address
            </option>
            <option value="chat" selected={form.kind === 'chat'}>
              Slack or Teams incoming webhook URL
            </option>
            <option value="webhook" selected={form.kind === 'webhook'}>
              Signed JSON webhook URL
            </option>
          </select>
        </Labelled>
        <Labelled id="channel-target" label="Address or URL" error={error}>
          <input
            id="channel-target"
            name="target"
            type="text"
            value={form.target}
            {...fieldAria('channel-target', error)}
          />
        </Labelled>
        <button type="submit">Add channel</button>
      </form>
    </section>
  );
}

/** Open conditions across the fleet with acknowledge, then where notices go. */
export function AlertsPage(props: {
  user: PageUser;
  alerts: AlertView[];
  channels: NotificationChannelView[];
  webhooks: WebhookView[];
  form: ChannelForm;
  smtpConfigured: boolean;
  notice?: string | undefined;
  webhookSecret?: string | undefined;
}) {
  const { user, alerts } = props;
  return (
    <Layout title="Alerts" user={user} nav="alerts" notice={props.notice}>
      <section aria-labelledby="alerts-open">
        <h2 id="alerts-open">Open alerts</h2>
        {alerts.length === 0 ? (
          <p>No open alerts: every gateway is fine.</p>
        ) : (
          <AlertRows user={user} alerts={alerts} />
        )}
      </section>
      {props.webhookSecret ? (
        <p class="notice" role="status">
          Webhook secret (shown once; deliveries are signed with it): <code>{props.webhookSecret}</code>
        </p>
      ) : null}
      <Channels {...props} />
    </Layout>
  );
}
