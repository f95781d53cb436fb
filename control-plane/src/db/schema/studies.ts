import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { facilities } from './facilities.js';
import { groups } from './groups.js';

export const studyStatuses = ['receiving', 'complete'] as const;

/** One row per study per group: the worklist. Patient fields come from decrypted manifests. */
export const studies = pgTable(
  'studies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    facilityId: uuid('facility_id')
      .notNull()
      .references(() => facilities.id, { onDelete: 'restrict' }),
    studyInstanceUid: text('study_instance_uid').notNull(),
    patientName: text('patient_name'),
    patientId: text('patient_id'),
    patientBirthDate: text('patient_birth_date'),
    patientSex: text('patient_sex'),
    /** Lower-cased, accent-stripped patient name and id, for prefix search. */
    patientNameSearch: text('patient_name_search').notNull().default(''),
    patientIdSearch: text('patient_id_search').notNull().default(''),
    studyDate: text('study_date'),
    studyTime: text('study_time'),
    description: text('description'),
    accessionNumber: text('accession_number'),
    referringPhysician: text('referring_physician'),
    /** Distinct modalities of its series, sorted. */
    modalities: text('modalities').array().notNull().default(sql`'{}'::text[]`),
    seriesCount: integer('series_count').notNull().default(0),
    instanceCount: integer('instance_count').notNull().default(0),
    status: text('status', { enum: studyStatuses }).notNull().default('receiving'),
    /** Set when an instance arrived after the study was complete, or replaced an earlier version. */
    updated: boolean('updated').notNull().default(false),
    firstReceivedAt: timestamp('first_received_at', { withTimezone: true }).notNull(),
    /** Latest time the gateway received an instance of this study. */
    lastReceivedAt: timestamp('last_received_at', { withTimezone: true }).notNull(),
    firstStoredAt: timestamp('first_stored_at', { withTimezone: true }).notNull(),
    lastStoredAt: timestamp('last_stored_at', { withTimezone: true }).notNull(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('studies_group_uid_key').on(t.groupId, t.studyInstanceUid),
    index('studies_group_received_idx').on(t.groupId, t.lastReceivedAt, t.id),
    index('studies_group_name_idx').on(t.groupId, t.patientNameSearch),
    index('studies_group_pid_idx').on(t.groupId, t.patientIdSearch),
    index('studies_receiving_idx').on(t.status, t.lastReceivedAt),
  ],
);
