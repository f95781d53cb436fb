import { bigint, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { gateways } from './gateways.js';
import { groups } from './groups.js';

export const uploadStates = ['open', 'stored'] as const;

/** One object's upload session. The blob store, not this row, knows which parts have arrived. */
export const uploads = pgTable(
  'uploads',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    gatewayId: uuid('gateway_id')
      .notNull()
      .references(() => gateways.id, { onDelete: 'cascade' }),
    objectId: text('object_id').notNull(),
    sopInstanceUid: text('sop_instance_uid').notNull(),
    studyInstanceUid: text('study_instance_uid'),
    sha256: text('sha256').notNull(),
    plainBytes: bigint('plain_bytes', { mode: 'number' }).notNull(),
    objectBytes: bigint('object_bytes', { mode: 'number' }).notNull(),
    partBytes: integer('part_bytes').notNull(),
    blobKey: text('blob_key').notNull(),
    /**
     * Set once a pack PUT holds this object: `blobKey` is then the pack's blob and the object lies at
     * this offset in it (objectBytes long). Null: the object is the whole blob at `blobKey`.
     */
    blobOffset: bigint('blob_offset', { mode: 'number' }),
    /** The store's multipart upload id (S3 UploadId; the fs store uses the upload's id); null for single PUTs. */
    backendUploadId: text('backend_upload_id'),
    state: text('state', { enum: uploadStates }).notNull().default('open'),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * When the agent last offered it (and so got fresh part URLs). An open upload not offered for a
     * while is abandoned and no longer holds its study back from completing.
     */
    lastOfferedAt: timestamp('last_offered_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    /** SHA-256 of this object's ciphertext as verified when it was stored (receipts repeat it). */
    objectSha256: text('object_sha256'),
  },
  (t) => [
    uniqueIndex('uploads_group_object_key').on(t.groupId, t.objectId),
    index('uploads_open_study_idx').on(t.groupId, t.studyInstanceUid, t.state),
    index('uploads_blob_key_idx').on(t.blobKey),
  ],
);
