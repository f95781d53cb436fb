import type { DiagnosticRequest, DiagnosticResult } from '@ferry/shared';
import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';
import { groups } from './groups.js';

export type DiagnosticState = 'pending' | 'sent' | 'done' | 'expired';

/** A diagnostic an admin asked a gateway to run, and its result. */
export const gatewayDiagnostics = pgTable(
  'gateway_diagnostics',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    gatewayId: uuid('gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    request: jsonb('request').$type<DiagnosticRequest>().notNull(),
    state: text('state').$type<DiagnosticState>().notNull().default('pending'),
    result: jsonb('result').$type<DiagnosticResult>(),
    requestedBy: uuid('requested_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('gateway_diagnostics_gateway_idx').on(t.gatewayId, t.createdAt)],
);
