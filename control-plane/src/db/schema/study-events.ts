import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { studies } from './studies.js';

export const studyEventKinds = ['created', 'completed', 'reopened', 'new_version'] as const;

/** The study timeline beyond what instance rows already say (received at gateway, stored). */
export const studyEvents = pgTable(
  'study_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    studyId: uuid('study_id')
      .notNull()
      .references(() => studies.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: studyEventKinds }).notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('study_events_study_idx').on(t.studyId, t.at)],
);
