import type { AeTitleAlias, GatewaySettings } from '@ferry/shared';
import { integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { groups } from './groups.js';

export const facilities = pgTable(
  'facilities',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** Trimmed: leading and trailing spaces are not significant in an AE title. */
    aeTitle: text('ae_title').notNull(),
    /** Previous titles still accepted until their expiry (pushed as aeTitleAliases). */
    aeTitleAliases: jsonb('ae_title_aliases').$type<AeTitleAlias[]>().notNull().default([]),
    /** A study is complete after this long without a new instance. */
    stablePeriodSeconds: integer('stable_period_seconds').notNull().default(60),
    /** Overrides of the group's gateway settings for this facility's gateways. */
    gatewaySettings: jsonb('gateway_settings').$type<GatewaySettings>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('facilities_group_ae_title_key').on(t.groupId, t.aeTitle)],
);
