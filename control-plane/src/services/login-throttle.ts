import type { Ctx } from '../context.js';
import {
  type BackoffPolicy,
  clearBackoff,
  hitBackoff,
  hitRateLimit,
  LONGEST_RATE_LIMIT_WINDOW_MS,
  refundRateLimit,
  restartBackoff,
} from './rate-limit.js';

/**
 * Password guesses are throttled per (account, client address), never per account alone: a stranger's
 * wrong passwords make the stranger's own address wait, while the real user signs in from theirs.
 * Five wrong passwords are free (typos), then 1 s, 2 s, 4 s … up to 15 minutes between attempts.
 */
export const LOGIN_BACKOFF: BackoffPolicy = { free: 5, baseMs: 1000, capMs: 15 * 60_000 };

/** Password guesses one address may make across all accounts per 15 minutes (a spray of many accounts). */
export const LOGIN_ADDRESS_BUDGET = 50;

const backoffName = (email: string, ip: string | undefined) => `password:${email}:${ip ?? 'unknown'}`;
const addressKey = (ip: string) => `login:address:${ip}`;

/** Counts a password attempt for `email` from the caller's address, or refuses it (429) while it must wait. */
export async function countPasswordAttempt(ctx: Ctx, email: string): Promise<void> {
  if (ctx.ip)
    await hitRateLimit(ctx.db, addressKey(ctx.ip), LOGIN_ADDRESS_BUDGET, LONGEST_RATE_LIMIT_WINDOW_MS);
  await hitBackoff(ctx.db, backoffName(email, ctx.ip), LOGIN_BACKOFF);
}

/** The password was wrong: the address's wait for this account starts now, after the hash it cost. */
export async function recordPasswordFailure(ctx: Ctx, email: string): Promise<void> {
  await restartBackoff(ctx.db, backoffName(email, ctx.ip));
}

/** The password was right: this address starts afresh for this account, and the attempt costs no budget. */
export async function forgetPasswordAttempts(ctx: Ctx, email: string): Promise<void> {
  await clearBackoff(ctx.db, backoffName(email, ctx.ip));
  if (ctx.ip) await refundRateLimit(ctx.db, addressKey(ctx.ip));
}
