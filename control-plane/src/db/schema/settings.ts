import { pgTable, text } from 'drizzle-orm/pg-core';

/** Cluster-wide values every replica must share, such as the session signing secret. */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});
