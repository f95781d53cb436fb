import type { PGlite } from '@electric-sql/pglite';
import { fromPglite, PgBoss } from 'pg-boss';
import type { Logger } from 'pino';

/**
 * How the queue reaches the database (Database.queueConnection): its own small pool on PostgreSQL (it
 * holds a LISTEN connection and must not starve the app's pool), the one connection embedded.
 */
export type QueueConnection = { kind: 'postgres'; url: string } | { kind: 'pglite'; client: PGlite };

/** pg-boss keeps its tables in their own schema, beside ours; it creates and migrates them itself. */
export const JOB_QUEUE_SCHEMA = 'pgboss';

/** How often an idle worker asks for due jobs: a delayed job runs at most this late. */
export const JOB_QUEUE_POLLING_SECONDS = 0.5;

/** Connections of the queue's own pool on PostgreSQL (one LISTEN, fetches, sends from the listener). */
const QUEUE_POOL_MAX = 3;

function newBoss(connection: QueueConnection, maintenance: boolean): PgBoss {
  return new PgBoss({
    ...(connection.kind === 'postgres'
      ? { connectionString: connection.url, max: QUEUE_POOL_MAX, backend: 'postgres' as const }
      : { db: fromPglite(connection.client), backend: 'pglite' as const }),
    schema: JOB_QUEUE_SCHEMA,
    schedule: false,
    supervise: maintenance,
  });
}

/**
 * Creates or migrates pg-boss's schema, as part of the database's migrations (db/client.ts): so
 * `ferry-control-plane migrate` prepares everything, and a migrated copy of an empty database (the
 * tests' seeds) starts its queue without building tables. Runs under pg-boss's advisory lock: replicas
 * migrating at once are safe.
 */
export async function installJobQueueSchema(connection: QueueConnection): Promise<void> {
  const boss = newBoss(connection, false);
  await boss.start();
  await boss.stop({ graceful: false, close: true });
}

/**
 * The control plane's job queue: pg-boss on the same database, PostgreSQL or PGlite. Cron schedules
 * are off: periodic work stays on jobs/periodic-job.ts; the queue carries work due at a given time
 * (per-study completion checks). Jobs carry ids only; services still check groups.
 */
export async function startJobQueue(opts: { connection: QueueConnection; log: Logger }): Promise<PgBoss> {
  const log = opts.log.child({ job: 'queue' });
  const { connection } = opts;
  // Its schema is normally there already (installJobQueueSchema); start() still checks its version.
  // Maintenance (expiring stuck jobs, deleting old ones) on: it is idempotent across replicas.
  const boss = newBoss(connection, true);
  // An unhandled 'error' event would end the process; pg-boss retries what failed on its next pass.
  boss.on('error', (err) =>
    log.warn({ event: 'job_queue.error', err: (err as Error).message }, 'job queue error'),
  );
  await boss.start();
  return boss;
}
