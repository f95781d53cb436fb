import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PRIVATE_DIR_MODE } from '@ferry/shared';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { narrowToOwner } from '../data-dir.js';
import { installJobQueueSchema, type QueueConnection } from '../jobs/queue.js';
import { type ListenHandlers, listenPostgres, type Unlisten } from './listen.js';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
/** Either backend: PGlite embedded or PostgreSQL over `pg`; services see only this. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Query helpers take the database or a transaction first. */
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Our migrations, then the job queue's own schema (jobs/queue.ts). */
  migrate(): Promise<void>;
  /** Runs a trivial query: the readiness check. */
  ping(): Promise<void>;
  /**
   * Subscribes to NOTIFY on `channel` (PostgreSQL: a dedicated connection; PGlite: in process). A
   * `pg_notify` sent inside a transaction is delivered when it commits, to every replica.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<Unlisten>;
  /** How the job queue (jobs/queue.ts) reaches this database. */
  queueConnection: QueueConnection;
  close(): Promise<void>;
}

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function openDatabase(opts: {
  url?: string;
  dataDir?: string;
  /** Told when an idle pooled connection dies (server restart, admin kill); the pool replaces it. */
  onIdleError?: (err: Error) => void;
}): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    // An idle client's connection can die (server restart, terminated backend, or pool.end() still
    // closing sockets when the database is dropped): pg then emits 'error' on the pool, and without a
    // listener that crashes the process. The pool has already discarded the client; the next query
    // opens a new connection.
    pool.on('error', (err) => opts.onIdleError?.(err));
    const db = drizzlePg(pool, { schema });
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      migrate: async () => {
        await migratePg(db, { migrationsFolder: MIGRATIONS });
        await installJobQueueSchema({ kind: 'postgres', url: opts.url as string });
      },
      ping: async () => {
        await pool.query('select 1');
      },
      listen: (channel, handlers) => listenPostgres(opts.url as string, channel, handlers),
      queueConnection: { kind: 'postgres', url: opts.url },
      close: () => pool.end(),
    };
  }
  // The embedded database holds every row: its files are the owner's alone (see data-dir.ts).
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const client = new PGlite(opts.dataDir);
  await client.waitReady;
  const database = pgliteDatabase(client);
  const dir = opts.dataDir;
  if (!dir) return database;
  // PGlite writes its files 0666 (see narrowToOwner): narrowed once open, after migrations add
  // relation files, and at close.
  await narrowToOwner(dir);
  return {
    ...database,
    migrate: async () => {
      await database.migrate();
      await narrowToOwner(dir);
    },
    close: async () => {
      await database.close();
      await narrowToOwner(dir);
    },
  };
}

/** The Database over an open PGlite instance (the embedded default, and test clones). */
export function pgliteDatabase(client: PGlite): Database {
  const db = drizzlePglite(client, { schema });
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    migrate: async () => {
      await migratePglite(db, { migrationsFolder: MIGRATIONS });
      await installJobQueueSchema({ kind: 'pglite', client });
    },
    ping: async () => {
      await client.query('select 1');
    },
    listen: async (channel, handlers) => {
      const unlisten = await client.listen(channel, handlers.onPayload);
      return () => unlisten();
    },
    queueConnection: { kind: 'pglite', client },
    close: async () => {
      if (!client.closed) await client.close();
    },
  };
}
