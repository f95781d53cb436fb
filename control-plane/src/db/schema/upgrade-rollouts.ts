import type { ReleaseDescriptor } from '@ferry/shared';
import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { facilities } from './facilities.js';
import { gateways } from './gateways.js';
import { groups } from './groups.js';

/** canary: waiting for the first gateway to come back on the version; then done or failed. */
export type RolloutState = 'canary' | 'done' | 'failed';

/**
 * An upgrade of a facility's or a group's gateways, canary first: the canary is sent the release at
 * once, the rest only once it reported the new version and is online again (jobs/gateway-liveness).
 */
export const upgradeRollouts = pgTable(
  'upgrade_rollouts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    /** Null: the whole group. */
    facilityId: uuid('facility_id').references(() => facilities.id, { onDelete: 'cascade' }),
    release: jsonb('release').$type<ReleaseDescriptor>().notNull(),
    canaryGatewayId: uuid('canary_gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    /** The gateways to upgrade once the canary is back; then, which were sent the release. */
    gatewayIds: jsonb('gateway_ids').$type<string[]>().notNull(),
    state: text('state').$type<RolloutState>().notNull().default('canary'),
    reason: text('reason'),
    requestedBy: uuid('requested_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('upgrade_rollouts_state_idx').on(t.state, t.createdAt)],
);
