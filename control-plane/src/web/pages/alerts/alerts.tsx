import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { acknowledgeAlert } from '../../../services/acknowledge-alert.js';
import { createNotificationChannel } from '../../../services/create-notification-channel.js';
import { createWebhook } from '../../../services/create-webhook.js';
import { deleteNotificationChannel } from '../../../services/delete-notification-channel.js';
import { deleteWebhook } from '../../../services/delete-webhook.js';
import { listAlerts } from '../../../services/list-alerts.js';
import { listNotificationChannels } from '../../../services/list-notification-channels.js';
import { listWebhooks } from '../../../services/list-webhooks.js';
import { formText, requireUuid } from '../../facility-fields.js';
import { pageUser, requirePage } from '../../page-context.js';
import { AlertsPage, type ChannelForm } from './alerts-page.js';

const NOTICES: Record<string, string> = {
  acknowledged: 'Alert acknowledged',
  'channel-added': 'Channel added',
  'channel-removed': 'Channel removed',
};

async function renderAlerts(
  c: Context<AppEnv>,
  extra: { form?: ChannelForm; webhookSecret?: string; notice?: string } = {},
  status: 200 | 400 = 200,
): Promise<Response> {
  const ctx = ctxOf(c);
  const [alerts, channels, webhooks] = await Promise.all([
    listAlerts({ ctx }),
    listNotificationChannels({ ctx }),
    listWebhooks({ ctx }),
  ]);
  const notice = extra.notice ?? NOTICES[c.req.query('notice') ?? ''];
  return c.html(
    <AlertsPage
      user={pageUser(c)}
      alerts={alerts}
      channels={channels}
      webhooks={webhooks}
      form={extra.form ?? { kind: 'email', target: '' }}
      smtpConfigured={c.get('deps').smtpConfigured ?? false}
      notice={notice}
      webhookSecret={extra.webhookSecret}
    />,
    status,
  );
}

/** Alerts (admins): open conditions with acknowledge, and the channels notices go to. */
export function registerAlertsPage(web: Hono<AppEnv>): void {
  const admin = requirePage({ admin: true });
  web.get('/alerts', admin, (c) => renderAlerts(c));

  web.post('/alerts/:id/acknowledge', admin, async (c) => {
    await acknowledgeAlert({ ctx: ctxOf(c), input: { id: requireUuid(c.req.param('id') ?? '', 'alert') } });
    return c.redirect('/alerts?notice=acknowledged', 303);
  });

  web.post('/alerts/channels', admin, async (c) => {
    const raw = await c.req.parseBody();
    const form: ChannelForm = { kind: formText(raw, 'kind'), target: formText(raw, 'target') };
    try {
      if (form.kind === 'webhook') {
        const deps = c.get('deps');
        const hook = await createWebhook({
          ctx: ctxOf(c),
          deps: { secrets: deps.secretBox },
          input: { url: form.target, allowPrivateAddresses: deps.webhookAllowPrivate ?? false },
        });
        return renderAlerts(c, { webhookSecret: hook.secret, notice: NOTICES['channel-added'] });
      }
      if (form.kind !== 'email' && form.kind !== 'chat')
        throw new FerryError('request.invalid', 'kind: choose e-mail, Slack/Teams or webhook');
      await createNotificationChannel({
        ctx: ctxOf(c),
        input: { kind: form.kind, target: form.target },
        deps: { secrets: c.get('deps').secretBox },
      });
    } catch (err) {
      if (
        err instanceof FerryError &&
        (err.code === 'request.invalid' || err.code === 'webhook.url_not_allowed')
      )
        return renderAlerts(
          c,
          { form: { ...form, error: err.message.replace(/^(url|target|kind): /, '') } },
          400,
        );
      throw err;
    }
    return c.redirect('/alerts?notice=channel-added', 303);
  });

  web.post('/alerts/channels/:id/delete', admin, async (c) => {
    await deleteNotificationChannel({
      ctx: ctxOf(c),
      input: { id: requireUuid(c.req.param('id') ?? '', 'channel') },
    });
    return c.redirect('/alerts?notice=channel-removed', 303);
  });

  web.post('/alerts/webhooks/:id/delete', admin, async (c) => {
    await deleteWebhook({ ctx: ctxOf(c), input: { id: requireUuid(c.req.param('id') ?? '', 'webhook') } });
    return c.redirect('/alerts?notice=channel-removed', 303);
  });
}
