import { FerryError } from '@ferry/shared';
import { eq, lt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { rateLimits } from '../db/schema/index.js';

/** The FerryError detail that says how long a rate-limited caller should wait (the edge's Retry-After). */
export const RETRY_AFTER_DETAIL = 'retryAfterSeconds';

/**
 * Counts one attempt against `key` in a fixed window and refuses once `limit` is passed. The row is
 * upserted atomically, so replicas share the count. A refusal carries the seconds left in the window
 * (details.retryAfterSeconds), which the edge sends as Retry-After.
 */
export async function hitRateLimit(db: DbOrTx, key: string, limit: number, windowMs: number): Promise<void> {
  const now = new Date();
  const windowStart = new Date(now.getTime() - windowMs);
  const [row] = await db
    .insert(rateLimits)
    .values({ key, windowStart: now, count: 1 })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        count: sql`case when ${rateLimits.windowStart} < ${windowStart.toISOString()}::timestamptz then 1 else ${rateLimits.count} + 1 end`,
        windowStart: sql`case when ${rateLimits.windowStart} < ${windowStart.toISOString()}::timestamptz then ${now.toISOString()}::timestamptz else ${rateLimits.windowStart} end`,
      },
    })
    .returning({ count: rateLimits.count, windowStart: rateLimits.windowStart });
  if (row && row.count > limit) {
    const retryAfterSeconds = Math.max(
      1,
      Math.ceil((row.windowStart.getTime() + windowMs - now.getTime()) / 1000),
    );
    throw new FerryError(
      'auth.rate_limited',
      `too many attempts; try again in ${Math.ceil(retryAfterSeconds / 60)} minutes`,
      { details: { [RETRY_AFTER_DETAIL]: retryAfterSeconds } },
    );
  }
}

/**
 * The longest window any caller of hitRateLimit uses. A row whose window started before this is
 * spent: the next hit would reset it anyway.
 */
export const LONGEST_RATE_LIMIT_WINDOW_MS = 15 * 60_000;

/**
 * Deletes spent counters. Without it, a spray of logins for random e-mail addresses (one row per
 * address) grows the table for ever. Returns how many rows went.
 */
export async function sweepRateLimits(db: DbOrTx, now = new Date()): Promise<number> {
  const spentBefore = new Date(now.getTime() - LONGEST_RATE_LIMIT_WINDOW_MS);
  const gone = await db
    .delete(rateLimits)
    .where(lt(rateLimits.windowStart, spentBefore))
    .returning({ key: rateLimits.key });
  return gone.length;
}

export async function clearRateLimit(db: DbOrTx, key: string): Promise<void> {
  await db.delete(rateLimits).where(eq(rateLimits.key, key));
}
