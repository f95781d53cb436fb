import type { HealthReport } from '@ferry/shared';
import { doublePrecision, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';

export const GATEWAY_STATUSES = ['online', 'degraded', 'offline'] as const;
export type GatewayStatus = (typeof GATEWAY_STATUSES)[number];

/** The live state of one gateway, written by whichever replica holds its channel. */
export const gatewayStatus = pgTable('gateway_status', {
  gatewayId: uuid('gateway_id')
    .primaryKey()
    .references(() => gateways.id, { onDelete: 'cascade' }),
  status: text('status').$type<GatewayStatus>().notNull().default('offline'),
  statusSince: timestamp('status_since', { withTimezone: true }).notNull().defaultNow(),
  lastHeartbeatAt: timestamp('last_heartbeat_at', { withTimezone: true }),
  /** The interval the control plane asked for on the current channel. */
  heartbeatSeconds: doublePrecision('heartbeat_seconds'),
  health: jsonb('health').$type<HealthReport>(),
  appliedConfigVersion: integer('applied_config_version'),
  /** The latest version the gateway refused, with its reason; cleared when a newer one applies. */
  rejectedConfig: jsonb('rejected_config').$type<{ version: number; reason: string; at: string }>(),
  /** The current channel; a close only marks the gateway offline when it is still this one. */
  channelId: uuid('channel_id'),
  connectedAt: timestamp('connected_at', { withTimezone: true }),
  /** The replica holding the channel (for operators reading the table). */
  replicaId: text('replica_id'),
});
