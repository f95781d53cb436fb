import { jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { JWK } from 'jose';
import { facilities } from './facilities.js';
import { groups } from './groups.js';

export const gateways = pgTable(
  'gateways',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    facilityId: uuid('facility_id')
      .notNull()
      .references(() => facilities.id, { onDelete: 'restrict' }),
    /** The agent's Ed25519 public key; the private key never leaves the gateway. */
    publicKey: jsonb('public_key').$type<JWK>().notNull(),
    /** Kept after a rotation until the agent proves it uses the new key. */
    previousPublicKey: jsonb('previous_public_key').$type<JWK>(),
    hostname: text('hostname').notNull(),
    /** What people call it: unique within its facility; by default the facility's name and the host name. */
    name: text('name').notNull(),
    version: text('version').notNull(),
    enrolledAt: timestamp('enrolled_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('gateways_facility_name_key').on(t.facilityId, t.name)],
);
