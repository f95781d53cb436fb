import type { GatewaySettings } from '@ferry/shared';
import { jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const groups = pgTable('groups', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** Defaults for every gateway of the group (a facility's own settings win). */
  gatewaySettings: jsonb('gateway_settings').$type<GatewaySettings>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
