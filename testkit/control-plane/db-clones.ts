/**
 * A fresh, migrated database per test app, on either backend, in well under a second.
 *
 * - PGlite: a PGlite instance takes 4–6 s to initialise from scratch. We migrate ONE instance,
 *   dump its data directory (`dumpDataDir`) and start every clone from that tarball (`loadDataDir`),
 *   which takes a few hundred milliseconds. The tarball is also cached on disk under
 *   node_modules/.cache/ferry-test, keyed by the migrations and the PGlite version, because vitest
 *   re-imports this module for every test file.
 * - PostgreSQL: one migrated template database per migration set (`ferry_tpl_<hash>_<time>`), and per
 *   clone a fresh `CREATE DATABASE … TEMPLATE` (tens of milliseconds), dropped again by its close().
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { type Database, openDatabase, pgliteDatabase } from '../../control-plane/src/db/client.js';
import * as schema from '../../control-plane/src/db/schema/index.js';
import { nextSerial } from './names.js';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: Backend[] = ['pglite', 'postgres'];

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A migrated, empty database of its own; close() drops it (PostgreSQL) or discards it (PGlite). */
export function openDatabaseClone(backend: Backend): Promise<Database> {
  return backend === 'pglite' ? openPgliteClone() : openPostgresClone();
}

// ---------------------------------------------------------------------------------------------
// Shared inputs: migrations, cache directory

const MIGRATIONS_DIR = fileURLToPath(new URL('../../control-plane/migrations', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/ferry-test', import.meta.url));
/** Bump when the way snapshots and templates are made changes. */
const RECIPE = 'v1';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

let migrationsHashP: Promise<string> | undefined;
/** Changes whenever a migration file changes, so cached snapshots and templates follow the schema. */
function migrationsHash(): Promise<string> {
  migrationsHashP ??= (async () => {
    const h = createHash('sha256').update(RECIPE);
    for (const file of await filesUnder(MIGRATIONS_DIR)) {
      h.update(file.slice(MIGRATIONS_DIR.length))
        .update('\0')
        .update(await readFile(file));
    }
    return h.digest('hex').slice(0, 16);
  })();
  return migrationsHashP;
}

/** One promise for every caller of this process, made again on the next call if it failed. */
function sharedUntilItFails<T>(make: () => Promise<T>): () => Promise<T> {
  let shared: Promise<T> | undefined;
  return () => {
    shared ??= make().catch((err: unknown) => {
      shared = undefined;
      throw err;
    });
    return shared;
  };
}

// ---------------------------------------------------------------------------------------------
// PGlite: one migrated snapshot, loaded into a fresh in-memory instance per app

/**
 * PGlite's own start parameters plus a smaller buffer pool: 128 MB of shared buffers costs about
 * 250 ms per start and a test database needs a few MB.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

function pglitePackageFile(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return join(dirname(entry), '..', 'package.json');
}

const pgliteSnapshot = sharedUntilItFails(loadOrBuildSnapshot);

async function loadOrBuildSnapshot(): Promise<Blob> {
  const pkg = JSON.parse(await readFile(pglitePackageFile(), 'utf8')) as { version: string };
  const file = join(CACHE_DIR, `pglite-${pkg.version}-${await migrationsHash()}.tar`);
  try {
    return new Blob([await readFile(file)]);
  } catch {
    // not cached yet
  }
  const client = new PGlite({ startParams: PGLITE_START_PARAMS, relaxedDurability: true });
  await client.waitReady;
  await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder: MIGRATIONS_DIR });
  // Fewer files in the tarball make every load faster (about 40%): the app only uses `postgres`.
  await client.query(
    `update pg_database set datistemplate = false where datname in ('template0', 'template1')`,
  );
  await client.query('drop database template0');
  await client.query('drop database template1');
  await client.query('checkpoint');
  const dump = await client.dumpDataDir('none');
  await client.close();
  const bytes = new Uint8Array(await dump.arrayBuffer());
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch {
    // A read-only tree only loses the cache.
  }
  return new Blob([bytes]);
}

async function openPgliteClone(): Promise<Database> {
  const client = new PGlite({
    loadDataDir: await pgliteSnapshot(),
    startParams: PGLITE_START_PARAMS,
    relaxedDurability: true,
  });
  await client.waitReady;
  return pgliteDatabase(client);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: one migrated template per migration set, a database per app

export function testDatabaseUrl(): string {
  return process.env.FERRY_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

function quoteIdent(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name ${name}`);
  return `"${name}"`;
}

const STALE_MS = 6 * 3600_000;
const TEMPLATE_LOCK = 4242_7001;

interface PgAdmin {
  pool: pg.Pool;
  url: string;
  template: string;
}

const pgAdmin = sharedUntilItFails(setUpPgAdmin);

async function connectAdmin(url: string): Promise<pg.Pool> {
  const open = async (u: string) => {
    const pool = new pg.Pool({
      connectionString: u,
      max: 2,
      allowExitOnIdle: true,
      connectionTimeoutMillis: 5000,
    });
    try {
      await pool.query('select 1');
      return pool;
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  };
  try {
    return await open(url);
  } catch (err) {
    // The named database may simply not exist yet: make it through the maintenance database.
    if ((err as { code?: string }).code !== '3D000') throw err;
    const name = new URL(url).pathname.slice(1);
    const maint = await open(withDatabase(url, 'postgres'));
    try {
      await maint.query(`create database ${quoteIdent(name)}`);
    } catch (e) {
      if ((e as { code?: string }).code !== '42P04') throw e;
    } finally {
      await maint.end();
    }
    return open(url);
  }
}

async function setUpPgAdmin(): Promise<PgAdmin> {
  const url = testDatabaseUrl();
  let pool: pg.Pool;
  try {
    pool = await connectAdmin(url);
  } catch (cause) {
    throw new Error(
      `PostgreSQL for tests is not reachable at ${redact(url)} (${(cause as Error).message}). ` +
        'Start it (pg_ctlcluster <version> main start) or set FERRY_TEST_DATABASE_URL.',
      { cause },
    );
  }
  const hash = await migrationsHash();
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database where datname like 'ferry_t%'`,
    );
    const now = Date.now();
    const ageOf = (name: string) => now - Number.parseInt(name.split('_').at(-1) ?? '', 36);
    // Sweep databases left by killed runs, and templates of old migration sets.
    for (const { datname } of rows) {
      const staleApp =
        datname.startsWith('ferry_test_') && ageOf(datname.replace(/_\d+_\d+$/, '')) > STALE_MS;
      const staleTemplate =
        datname.startsWith('ferry_tpl_') &&
        !datname.startsWith(`ferry_tpl_${hash}_`) &&
        ageOf(datname) > STALE_MS;
      if (!staleApp && !staleTemplate) continue;
      await client
        .query(`alter database ${quoteIdent(datname)} is_template false`)
        .then(() => client.query(`drop database if exists ${quoteIdent(datname)} with (force)`))
        .catch(() => {});
    }
    let template = rows.map((r) => r.datname).find((n) => n.startsWith(`ferry_tpl_${hash}_`));
    if (!template) {
      template = `ferry_tpl_${hash}_${now.toString(36)}`;
      const building = `ferry_tbuild_${hash}`;
      await client.query(`drop database if exists ${quoteIdent(building)} with (force)`);
      await client.query(`create database ${quoteIdent(building)}`);
      const database = await openDatabase({ url: withDatabase(url, building) });
      try {
        await database.migrate();
      } finally {
        await database.close();
      }
      // Published by rename, so a template under this name is always complete.
      await client.query(`alter database ${quoteIdent(building)} rename to ${quoteIdent(template)}`);
      await client.query(`alter database ${quoteIdent(template)} is_template true`);
    }
    return { pool, url, template };
  } finally {
    await client.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK]).catch(() => {});
    client.release();
  }
}

async function openPostgresClone(): Promise<Database> {
  const admin = await pgAdmin();
  // ferry_test_<created, base 36>_<pid>_<n>: the creation time lets a later run sweep leftovers.
  const name = `ferry_test_${Date.now().toString(36)}_${process.pid}_${nextSerial()}`;
  await admin.pool.query(`create database ${quoteIdent(name)} template ${quoteIdent(admin.template)}`);
  const database = await openDatabase({ url: withDatabase(admin.url, name) });
  await database.migrate();
  let closed = false;
  return {
    ...database,
    close: async () => {
      if (closed) return;
      closed = true;
      await database.close();
      // pool.end() resolves before its sockets are closed; a plain DROP waits (up to 5 s) for those
      // backends to exit, where WITH (FORCE) would kill them and make the closing clients emit errors.
      await admin.pool.query(`drop database if exists ${quoteIdent(name)}`).catch(async (err: unknown) => {
        if ((err as { code?: string }).code !== '55006') throw err;
        await admin.pool.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      });
    },
  };
}
