import { integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { groups } from './groups.js';
import { studies } from './studies.js';

export const series = pgTable(
  'series',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    studyId: uuid('study_id')
      .notNull()
      .references(() => studies.id, { onDelete: 'cascade' }),
    seriesInstanceUid: text('series_instance_uid').notNull(),
    modality: text('modality'),
    seriesNumber: text('series_number'),
    description: text('description'),
    instanceCount: integer('instance_count').notNull().default(0),
  },
  (t) => [uniqueIndex('series_study_uid_key').on(t.studyId, t.seriesInstanceUid)],
);
