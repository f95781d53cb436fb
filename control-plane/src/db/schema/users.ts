import { boolean, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { groups } from './groups.js';

export const userRoles = ['admin', 'reader'] as const;
export type UserRole = (typeof userRoles)[number];

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    /** Stored lower-cased: e-mail addresses are matched case-insensitively. */
    email: text('email').notNull(),
    /** scrypt$N$r$p$salt$key: the parameters travel with the hash, so older hashes still verify. */
    passwordHash: text('password_hash').notNull(),
    /** Set for a temporary password (a new user's, or an admin's reset): it must be changed before anything else. */
    passwordMustChange: boolean('password_must_change').notNull().default(false),
    /**
     * Every session token carries the version it was issued under; bumping it (sign-out, password
     * change or reset, deactivation) ends all of the user's sessions at once, on every replica.
     */
    sessionVersion: integer('session_version').notNull().default(1),
    role: text('role', { enum: userRoles }).notNull(),
    /** Platform operators may create groups; the first admin is one. */
    isOperator: boolean('is_operator').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    deactivatedAt: timestamp('deactivated_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('users_email_key').on(t.email)],
);
