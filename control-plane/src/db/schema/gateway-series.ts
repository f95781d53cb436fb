import {
  bigint,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';

export const SERIES_RESOLUTIONS = ['minute', 'hour'] as const;
export type SeriesResolution = (typeof SERIES_RESOLUTIONS)[number];

/**
 * Downsampled figures from the heartbeats, per gateway: one row per minute (kept 24 h) and per hour
 * (kept 7 days), so a gateway's storage is bounded (at most 1,440 + 168 rows) whatever its heartbeat
 * rate. Counters are sums over the bucket; levels (backlog, oldest unsent) the last and the worst seen.
 */
export const gatewaySeries = pgTable(
  'gateway_series',
  {
    gatewayId: uuid('gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    resolution: text('resolution').$type<SeriesResolution>().notNull(),
    bucket: timestamp('bucket', { withTimezone: true }).notNull(),
    /** Heartbeats folded into the bucket. */
    samples: integer('samples').notNull().default(0),
    /** Instances stored (C-STORE Success), summed. */
    received: integer('received').notNull().default(0),
    /** Objects the cloud gave a receipt for, summed. */
    delivered: integer('delivered').notNull().default(0),
    /** Bytes uploaded, summed. */
    uploadedBytes: bigint('uploaded_bytes', { mode: 'number' }).notNull().default(0),
    /** Spool backlog at the bucket's last heartbeat, and the largest seen in it. */
    backlogCount: integer('backlog_count').notNull().default(0),
    backlogCountMax: integer('backlog_count_max').notNull().default(0),
    backlogBytes: bigint('backlog_bytes', { mode: 'number' }).notNull().default(0),
    /** Age of the oldest unsent object, the largest seen in the bucket (0: nothing waiting). */
    oldestUnsentSeconds: doublePrecision('oldest_unsent_seconds').notNull().default(0),
    /** Receipt time minus receive time, summed over `latencyCount` delivered objects (mean = sum / count). */
    latencyMsSum: doublePrecision('latency_ms_sum').notNull().default(0),
    latencyCount: integer('latency_count').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.gatewayId, t.resolution, t.bucket] }),
    index('gateway_series_prune_idx').on(t.resolution, t.bucket),
  ],
);
export type GatewaySeriesRow = typeof gatewaySeries.$inferSelect;
