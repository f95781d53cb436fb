import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Agent JWT ids seen and not yet expired: a replayed token finds its jti here. */
export const agentTokenUses = pgTable('agent_token_uses', {
  jti: text('jti').primaryKey(),
  gatewayId: uuid('gateway_id').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});
