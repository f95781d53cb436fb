import { sql } from 'drizzle-orm';
import { index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';
import { groups } from './groups.js';
import { users } from './users.js';

/**
 * One episode of one condition on one gateway: opened when the condition appears, `clearedAt` set when
 * it goes, `closedAt` once it has stayed gone for the quiet period (then the recovery notice is due).
 * A condition back within the quiet period reopens the same episode, so a flapping gateway makes one
 * notice, not one per flap. At most one unclosed episode per (gateway, code): the partial unique index
 * is what lets every replica sync at once without doubling an episode or its notices.
 */
export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    gatewayId: uuid('gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    code: text('code').notNull(),
    severity: text('severity').$type<'info' | 'warning' | 'error'>().notNull(),
    message: text('message').notNull(),
    /** When the condition began (the gateway's own `since`, or when it went offline). */
    since: timestamp('since', { withTimezone: true }).notNull(),
    openedAt: timestamp('opened_at', { withTimezone: true }).notNull().defaultNow(),
    clearedAt: timestamp('cleared_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true }),
    acknowledgedBy: uuid('acknowledged_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [
    uniqueIndex('alerts_one_unclosed').on(t.gatewayId, t.code).where(sql`${t.closedAt} is null`),
    index('alerts_group_open_idx').on(t.groupId, t.since),
  ],
);

export const NOTIFICATION_CHANNEL_KINDS = ['email', 'chat'] as const;
export type NotificationChannelKind = (typeof NOTIFICATION_CHANNEL_KINDS)[number];

/**
 * Where a group's alerts go besides its signed webhooks: an e-mail address (sent over FERRY_SMTP_URL)
 * or a Slack/Teams incoming-webhook URL. The chat URL is its own credential, so it is stored sealed.
 */
export const notificationChannels = pgTable(
  'notification_channels',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<NotificationChannelKind>().notNull(),
    /** The e-mail address in clear; a chat URL sealed (SecretBox). */
    target: text('target').notNull(),
    /** What the console shows: the address, or the chat URL's origin only. */
    label: text('label').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('notification_channels_group_idx').on(t.groupId)],
);

/**
 * The notification outbox: one row per (channel, alert, opened|recovered), unique, so a state change
 * is notified once per channel whatever restarts or replicas come between.
 */
export const alertNotifications = pgTable(
  'alert_notifications',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => notificationChannels.id, { onDelete: 'cascade' }),
    alertId: uuid('alert_id')
      .notNull()
      .references(() => alerts.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<'opened' | 'recovered'>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    failedAt: timestamp('failed_at', { withTimezone: true }),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('alert_notifications_once').on(t.channelId, t.alertId, t.kind),
    index('alert_notifications_due_idx').on(t.nextAttemptAt),
  ],
);
