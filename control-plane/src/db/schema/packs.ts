import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';
import { groups } from './groups.js';

/** Where one member of a pack lies in its PUT body. */
export interface PackMember {
  uploadId: string;
  objectId: string;
  offset: number;
  length: number;
}

/**
 * A pack an offer handed out: small objects' uploads sent in one PUT, back to back. The row is the
 * PUT's layout (its URL names only the pack); the members' own upload rows stay the truth of what is
 * stored.
 */
export const packs = pgTable('packs', {
  id: uuid('id').primaryKey(),
  groupId: uuid('group_id')
    .notNull()
    .references(() => groups.id, { onDelete: 'cascade' }),
  gatewayId: uuid('gateway_id')
    .notNull()
    .references(() => gateways.id, { onDelete: 'cascade' }),
  bytes: bigint('bytes', { mode: 'number' }).notNull(),
  members: jsonb('members').$type<PackMember[]>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Every blob a pack PUT wrote (each PUT of a pack writes a blob of its own, never over another). A
 * blob is deleted once no instance and no open upload names its key (jobs/pack-blob-sweep.ts); the row
 * goes in first, so a PUT cut off or a crash mid-write leaves nothing the sweep cannot find.
 */
export const packBlobs = pgTable(
  'pack_blobs',
  {
    blobKey: text('blob_key').primaryKey(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    packId: uuid('pack_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('pack_blobs_created_idx').on(t.createdAt)],
);
