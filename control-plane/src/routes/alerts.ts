import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { acknowledgeAlert } from '../services/acknowledge-alert.js';
import { createNotificationChannel } from '../services/create-notification-channel.js';
import { deleteNotificationChannel } from '../services/delete-notification-channel.js';
import { type AlertView, listAlerts } from '../services/list-alerts.js';
import {
  listNotificationChannels,
  type NotificationChannelView,
} from '../services/list-notification-channels.js';
import { idParamSchema, json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const isoTime = z.iso.datetime({ offset: true });

const alertSchema = z
  .object({
    id: z.uuid(),
    gateway: z.object({ id: z.uuid(), hostname: z.string(), facilityName: z.string() }),
    code: z.string().openapi({ example: 'gateway.offline' }),
    severity: z.enum(['info', 'warning', 'error']),
    message: z.string(),
    since: isoTime,
    acknowledged: z
      .object({ at: isoTime, by: z.string().nullable().openapi({ description: "The admin's e-mail" }) })
      .nullable(),
  })
  .openapi('Alert');

const channelSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['email', 'chat']),
    label: z.string().openapi({ description: "The e-mail address, or the chat URL's origin" }),
    createdAt: isoTime,
  })
  .openapi('NotificationChannel');

export function alertDto(a: AlertView): z.infer<typeof alertSchema> {
  return {
    id: a.id,
    gateway: a.gateway,
    code: a.code,
    severity: a.severity,
    message: a.message,
    since: a.since.toISOString(),
    acknowledged: a.acknowledged ? { at: a.acknowledged.at.toISOString(), by: a.acknowledged.by } : null,
  };
}

const channelDto = (c: NotificationChannelView): z.infer<typeof channelSchema> => ({
  id: c.id,
  kind: c.kind,
  label: c.label,
  createdAt: c.createdAt.toISOString(),
});

const listAlertsRoute = createRoute({
  method: 'get',
  path: '/api/v1/alerts',
  tags: ['alerts'],
  summary: "Open conditions across the group's fleet, newest first",
  description:
    'Every warning or error a gateway reports, and gateway.offline (error) for a gateway that went offline, ' +
    'while it holds. Cleared conditions leave the list.',
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'Open alerts', content: json(z.object({ alerts: z.array(alertSchema) })) },
    ...errorResponses(401, 403),
  },
});

const acknowledgeRoute = createRoute({
  method: 'post',
  path: '/api/v1/alerts/{id}/acknowledge',
  tags: ['alerts'],
  summary: 'Acknowledge an open alert (admin); the first acknowledgement is kept',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: { description: 'Acknowledged', content: json(z.object({ acknowledgedAt: isoTime })) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const listChannelsRoute = createRoute({
  method: 'get',
  path: '/api/v1/notification-channels',
  tags: ['alerts'],
  summary: "The group's e-mail and chat alert channels (admin)",
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'Channels', content: json(z.object({ channels: z.array(channelSchema) })) },
    ...errorResponses(401, 403),
  },
});

const createChannelRoute = createRoute({
  method: 'post',
  path: '/api/v1/notification-channels',
  tags: ['alerts'],
  summary: 'Send alerts to an e-mail address or a Slack/Teams incoming webhook (admin)',
  description:
    'email: sent over FERRY_SMTP_URL. chat: POSTs {"text": …}, which Slack and Teams incoming webhooks accept; ' +
    'the address rules are those of webhooks. One notice when an alert opens and one when it has cleared.',
  middleware: [authenticate('user')] as const,
  request: {
    body: {
      required: true,
      content: json(
        z.object({ kind: z.enum(['email', 'chat']), target: z.string().min(3).max(2000) }).strict(),
      ),
    },
  },
  responses: {
    201: { description: 'Created', content: json(channelSchema) },
    ...errorResponses(400, 401, 403, 413, 415),
  },
});

const deleteChannelRoute = createRoute({
  method: 'delete',
  path: '/api/v1/notification-channels/{id}',
  tags: ['alerts'],
  summary: 'Remove an alert channel (admin)',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 403, 404) },
});

export function registerAlerts(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listAlertsRoute, async (c) => {
    const alerts = await listAlerts({ ctx: ctxOf(c) });
    return c.json({ alerts: alerts.map(alertDto) }, 200);
  });
  app.openapi(acknowledgeRoute, async (c) => {
    const r = await acknowledgeAlert({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.json({ acknowledgedAt: r.acknowledgedAt.toISOString() }, 200);
  });
  app.openapi(listChannelsRoute, async (c) => {
    const channels = await listNotificationChannels({ ctx: ctxOf(c) });
    return c.json({ channels: channels.map(channelDto) }, 200);
  });
  app.openapi(createChannelRoute, async (c) => {
    const ch = await createNotificationChannel({
      ctx: ctxOf(c),
      input: c.req.valid('json'),
      deps: { secrets: c.get('deps').secretBox },
    });
    return c.json(channelDto(ch), 201);
  });
  app.openapi(deleteChannelRoute, async (c) => {
    await deleteNotificationChannel({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.body(null, 204);
  });
}
