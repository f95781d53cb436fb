import { FerryError } from '@ferry/shared';
import { and, eq, like, lt, notLike, or, sql } from 'drizzle-orm';
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

/** Keys of hitBackoff start with this; their rows live longer than a fixed window's. */
const BACKOFF_PREFIX = 'backoff:';

/** How long a backoff remembers failures after the last attempt: a slow guesser keeps its long delay. */
export const BACKOFF_MEMORY_MS = 24 * 3600_000;

/** A growing delay: `free` attempts at no cost, then base·2^k after each further one, at most `cap`. */
export interface BackoffPolicy {
  free: number;
  baseMs: number;
  capMs: number;
}

/** How long a key with `count` counted attempts must wait after its last one. */
export function backoffDelayMs(policy: BackoffPolicy, count: number): number {
  if (count < policy.free) return 0;
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(count - policy.free, 40));
}

/**
 * Counts one attempt against `name` unless it is still waiting out the delay its earlier attempts
 * earned; then it refuses with the seconds left (details.retryAfterSeconds, the edge's Retry-After).
 * The row is locked while it is read and counted, so concurrent attempts cannot all slip through one
 * opening. A success should `clearBackoff`.
 */
export async function hitBackoff(db: DbOrTx, name: string, policy: BackoffPolicy): Promise<void> {
  const key = `${BACKOFF_PREFIX}${name}`;
  await db.transaction(async (tx) => {
    const now = new Date();
    const [row] = await tx.select().from(rateLimits).where(eq(rateLimits.key, key)).for('update');
    if (row) {
      const waitMs = row.windowStart.getTime() + backoffDelayMs(policy, row.count) - now.getTime();
      if (waitMs > 0) {
        const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
        throw new FerryError(
          'auth.rate_limited',
          `too many wrong attempts from this address; try again in ${retryAfterSeconds} seconds`,
          { details: { [RETRY_AFTER_DETAIL]: retryAfterSeconds } },
        );
      }
    }
    await tx
      .insert(rateLimits)
      .values({ key, windowStart: now, count: 1 })
      .onConflictDoUpdate({
        target: rateLimits.key,
        set: { count: sql`${rateLimits.count} + 1`, windowStart: now },
      });
  });
}

/**
 * Starts the wait of a counted attempt that failed from now: the attempt was counted before the slow
 * check it paid for (a password hash), and its delay should not elapse while that check ran.
 */
export async function restartBackoff(db: DbOrTx, name: string): Promise<void> {
  await db
    .update(rateLimits)
    .set({ windowStart: new Date() })
    .where(eq(rateLimits.key, `${BACKOFF_PREFIX}${name}`));
}

export async function clearBackoff(db: DbOrTx, name: string): Promise<void> {
  await clearRateLimit(db, `${BACKOFF_PREFIX}${name}`);
}

/** Takes back one attempt counted by hitRateLimit (it turned out not to be one the limit is about). */
export async function refundRateLimit(db: DbOrTx, key: string): Promise<void> {
  await db
    .update(rateLimits)
    .set({ count: sql`greatest(${rateLimits.count} - 1, 0)` })
    .where(eq(rateLimits.key, key));
}

/**
 * Deletes spent counters: fixed windows that are over, and backoffs quiet for BACKOFF_MEMORY_MS.
 * Without it, a spray of logins for random e-mail addresses (one row per address) grows the table for
 * ever. Returns how many rows went.
 */
export async function sweepRateLimits(db: DbOrTx, now = new Date()): Promise<number> {
  const windowSpent = new Date(now.getTime() - LONGEST_RATE_LIMIT_WINDOW_MS);
  const backoffForgotten = new Date(now.getTime() - BACKOFF_MEMORY_MS);
  const backoffs = `${BACKOFF_PREFIX}%`;
  const gone = await db
    .delete(rateLimits)
    .where(
      or(
        and(notLike(rateLimits.key, backoffs), lt(rateLimits.windowStart, windowSpent)),
        and(like(rateLimits.key, backoffs), lt(rateLimits.windowStart, backoffForgotten)),
      ),
    )
    .returning({ key: rateLimits.key });
  return gone.length;
}

export async function clearRateLimit(db: DbOrTx, key: string): Promise<void> {
  await db.delete(rateLimits).where(eq(rateLimits.key, key));
}
