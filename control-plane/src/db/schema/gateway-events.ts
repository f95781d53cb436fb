import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';
import { groups } from './groups.js';

/**
 * What happened to a gateway: status changes (`status`, details {from, to, conditions}), channel
 * connects and disconnects, config applied or rejected, diagnostics. Webhook deliveries are derived
 * from the status rows (an outbox), so every replica can enqueue them without double sends.
 */
export const gatewayEvents = pgTable(
  'gateway_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    gatewayId: uuid('gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    type: text('type').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('gateway_events_gateway_at_idx').on(t.gatewayId, t.at),
    index('gateway_events_group_at_idx').on(t.groupId, t.at),
  ],
);
