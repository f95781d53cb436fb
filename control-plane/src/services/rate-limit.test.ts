import { isFerryError } from '@ferry/shared';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestApp, type TestApp } from '../../../testkit/control-plane/harness.js';
import { rateLimits } from '../db/schema/index.js';
import { startRateLimitSweep } from '../jobs/rate-limit-sweep.js';
import {
  BACKOFF_MEMORY_MS,
  hitBackoff,
  hitRateLimit,
  LONGEST_RATE_LIMIT_WINDOW_MS,
  sweepRateLimits,
} from './rate-limit.js';

const LIMIT = 3;

describe.each(BACKENDS)('rate-limit counters (%s)', (backend) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(async () => {
    await t?.close();
  });

  const keys = async () =>
    (await t.database.db.select({ key: rateLimits.key }).from(rateLimits)).map((r) => r.key).sort();

  it('sweeps spent counters (a spray of random addresses) and keeps live ones, lockouts included', async () => {
    const db = t.database.db;
    const spent = new Date(Date.now() - LONGEST_RATE_LIMIT_WINDOW_MS - 60_000);
    await db.insert(rateLimits).values(
      Array.from({ length: 50 }, (_, i) => ({
        key: `login:account:spray-${i}@x.test`,
        windowStart: spent,
        count: 1,
      })),
    );
    for (let i = 0; i <= LIMIT; i++)
      await hitRateLimit(db, 'login:account:victim@x.test', LIMIT, LONGEST_RATE_LIMIT_WINDOW_MS).catch(
        () => {},
      );
    await hitRateLimit(db, 'login:account:fresh@x.test', LIMIT, LONGEST_RATE_LIMIT_WINDOW_MS);

    expect(await sweepRateLimits(db)).toBe(50);
    expect(await keys()).toEqual(['login:account:fresh@x.test', 'login:account:victim@x.test']);
    const stillLocked = await hitRateLimit(
      db,
      'login:account:victim@x.test',
      LIMIT,
      LONGEST_RATE_LIMIT_WINDOW_MS,
    ).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isFerryError(stillLocked) && stillLocked.code).toBe('auth.rate_limited');
  });

  it('keeps a backoff past the fixed windows (a slow guesser keeps its delay) and forgets it after a quiet day', async () => {
    const db = t.database.db;
    const policy = { free: 1, baseMs: 60_000, capMs: 15 * 60_000 };
    await db.insert(rateLimits).values([
      {
        key: 'backoff:password:slow@x.test:192.0.2.1',
        windowStart: new Date(Date.now() - 3600_000),
        count: 30,
      },
      {
        key: 'backoff:password:gone@x.test:192.0.2.1',
        windowStart: new Date(Date.now() - BACKOFF_MEMORY_MS - 60_000),
        count: 30,
      },
    ]);
    await sweepRateLimits(db);
    const left = await keys();
    expect(left).toContain('backoff:password:slow@x.test:192.0.2.1');
    expect(left).not.toContain('backoff:password:gone@x.test:192.0.2.1');
    // Its 15-minute wait is over, so one more attempt is let through and counted; the next waits again.
    await hitBackoff(db, 'password:slow@x.test:192.0.2.1', policy);
    const held = await hitBackoff(db, 'password:slow@x.test:192.0.2.1', policy).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isFerryError(held) && held.code).toBe('auth.rate_limited');
    expect(isFerryError(held) && held.details?.retryAfterSeconds).toBe(15 * 60);
  });

  it('runs as a periodic job', async () => {
    const db = t.database.db;
    await db.insert(rateLimits).values({
      key: 'login:address:203.0.113.9',
      windowStart: new Date(Date.now() - 2 * LONGEST_RATE_LIMIT_WINDOW_MS),
      count: 7,
    });
    const job = startRateLimitSweep({ db, log: pino({ level: 'silent' }), intervalMs: 20 });
    try {
      for (let i = 0; i < 200 && (await keys()).includes('login:address:203.0.113.9'); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(await keys()).not.toContain('login:address:203.0.113.9');
    } finally {
      await job.stop();
    }
  });
});
