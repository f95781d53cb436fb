import type { TransportCoding } from '@ferry/shared';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { facilities } from './facilities.js';
import { gateways } from './gateways.js';
import { groups } from './groups.js';
import { series } from './series.js';
import { studies } from './studies.js';

/**
 * Every stored version of every instance. A resend with different bytes is a new version; the
 * newest is `current`, the older ones stay as history.
 */
export const instances = pgTable(
  'instances',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    facilityId: uuid('facility_id')
      .notNull()
      .references(() => facilities.id, { onDelete: 'restrict' }),
    gatewayId: uuid('gateway_id').references(() => gateways.id, { onDelete: 'set null' }),
    studyId: uuid('study_id')
      .notNull()
      .references(() => studies.id, { onDelete: 'cascade' }),
    seriesId: uuid('series_id')
      .notNull()
      .references(() => series.id, { onDelete: 'cascade' }),
    sopInstanceUid: text('sop_instance_uid').notNull(),
    sopClassUid: text('sop_class_uid').notNull(),
    instanceNumber: integer('instance_number'),
    numberOfFrames: integer('number_of_frames'),
    version: integer('version').notNull(),
    current: boolean('current').notNull(),
    objectId: text('object_id').notNull(),
    blobKey: text('blob_key').notNull(),
    /** Where the object lies in a pack's blob (objectBytes long); null when it is the whole blob. */
    blobOffset: bigint('blob_offset', { mode: 'number' }),
    sha256: text('sha256').notNull(),
    objectSha256: text('object_sha256').notNull(),
    plainBytes: bigint('plain_bytes', { mode: 'number' }).notNull(),
    objectBytes: bigint('object_bytes', { mode: 'number' }).notNull(),
    transferSyntaxUid: text('transfer_syntax_uid').notNull(),
    callingAeTitle: text('calling_ae_title').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    storedAt: timestamp('stored_at', { withTimezone: true }).notNull(),
    /** DICOM JSON of the header up to the pixel data, for QIDO and WADO-RS /metadata. */
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
    /**
     * How the sealed object was coded for transport (compression, JPEG-LS frames), counted when it was
     * opened at ingest; null for instances recorded before it was kept, or not uploaded by a gateway.
     */
    transportCoding: jsonb('transport_coding').$type<TransportCoding>(),
  },
  (t) => [
    uniqueIndex('instances_group_sop_sha_key').on(t.groupId, t.sopInstanceUid, t.sha256),
    uniqueIndex('instances_group_sop_version_key').on(t.groupId, t.sopInstanceUid, t.version),
    index('instances_series_idx').on(t.seriesId, t.current),
    index('instances_study_idx').on(t.studyId, t.current),
    index('instances_blob_key_idx').on(t.blobKey),
  ],
);
