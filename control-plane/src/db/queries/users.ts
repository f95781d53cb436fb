import { users } from '../schema/index.js';

/** A user as the API shows it: never the password hash. */
export const userColumns = {
  id: users.id,
  email: users.email,
  role: users.role,
  isOperator: users.isOperator,
  createdAt: users.createdAt,
  deactivatedAt: users.deactivatedAt,
};

export type UserView = {
  id: string;
  email: string;
  role: (typeof users.$inferSelect)['role'];
  isOperator: boolean;
  createdAt: Date;
  deactivatedAt: Date | null;
};
