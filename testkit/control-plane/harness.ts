/**
 * Test harness for the control plane: a real app (the real createApp, real session secret, real
 * database) per test or per describe block, on either backend.
 *
 * - PGlite: a PGlite instance takes 4–6 s to initialise from scratch. The harness migrates ONE instance,
 *   dumps its data directory (`dumpDataDir`) and starts every app from that tarball (`loadDataDir`),
 *   which takes a few hundred milliseconds. The tarball is also cached on disk under
 *   node_modules/.cache/ferry-test, keyed by the migrations and the PGlite version, because vitest
 *   re-imports this module for every test file.
 * - PostgreSQL: one migrated template database per migration set (`ferry_tpl_<hash>_<time>`), and per
 *   app a fresh `CREATE DATABASE … TEMPLATE` (tens of milliseconds), dropped again in close().
 *
 * - Blobs: `fs` (default) in a fresh temp directory, or `s3` in a fresh bucket on the test S3 server
 *   (Debian's Ceph radosgw, scripts/radosgw.sh); both are removed again in close().
 *
 * No vitest import here, so benches and scripts can use it too.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PGlite } from '@electric-sql/pglite';
import { generateRecipientKeyPair } from '@ferry/shared';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import pg from 'pg';
import { pino } from 'pino';
import { AgentRelease } from '../../control-plane/src/agent-release/agent-release.js';
import { createApp } from '../../control-plane/src/app.js';
import { hashPassword } from '../../control-plane/src/auth/password.js';
import { issueSessionToken, loadSessionSecret } from '../../control-plane/src/auth/session.js';
import { type Database, type Db, openDatabase, pgliteDatabase } from '../../control-plane/src/db/client.js';
import * as schema from '../../control-plane/src/db/schema/index.js';
import type { AppDeps, AppEnv } from '../../control-plane/src/edge/types.js';
import { SecretBox } from '../../control-plane/src/keys/secret-box.js';
import type { BlobStore } from '../../control-plane/src/storage/blob-store.js';
import { FsBlobStore } from '../../control-plane/src/storage/fs-blob-store.js';
import { loadBlobSigningSecret } from '../../control-plane/src/storage/part-signature.js';
import { S3BlobStore } from '../../control-plane/src/storage/s3-blob-store.js';
import { testAgentReleaseFile } from './agent-release.js';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: Backend[] = ['pglite', 'postgres'];
export type BlobBackend = 'fs' | 's3';
export const BLOB_BACKENDS: BlobBackend[] = ['fs', 's3'];

export const TEST_PUBLIC_URL = 'http://ferry.test';
export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Serialised as JSON, with `Content-Type: application/json`. */
  body?: unknown;
  /** Sent as is (no content type unless given in `headers`). */
  rawBody?: string;
  /** Added last, so they override the above (`content-length` is set for any body). */
  headers?: Record<string, string>;
}

export interface TestResponse<T = Record<string, unknown>> {
  status: number;
  /** The parsed JSON body; `{}` when the body is empty or not JSON (see `text`). */
  body: T;
  /** The raw body text. */
  text: string;
  headers: Headers;
}

export interface SeededUser {
  id: string;
  email: string;
  password: string;
  /** A valid session token (HS256, signed with the app's real session secret). */
  token: string;
}

export interface SeededGroup {
  groupId: string;
  name: string;
  /** The group's admin; a platform operator when seeded with `{ operator: true }`. */
  admin: SeededUser;
  reader: SeededUser;
}

export interface TestApp {
  backend: Backend;
  /** Which store `deps.blobStore` is. */
  blobs: BlobBackend;
  app: OpenAPIHono<AppEnv>;
  database: Database;
  deps: AppDeps;
  /** An in-process request through `app.request` (no socket, so no client address). */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts?: RequestOptions,
  ): Promise<TestResponse<T>>;
  seedGroup(name?: string, opts?: { operator?: boolean }): Promise<SeededGroup>;
  close(): Promise<void>;
}

export interface AgentTokenOptions {
  /** Seconds from now until `exp` (default 60); negative for an expired token. */
  expSeconds?: number;
  /** Issued-at, seconds since the epoch (default: now, or 60 s before `exp` when `exp` is past). */
  iat?: number;
  jti?: string;
  aud?: string;
  /** Sign with another key (default: the gateway's own). */
  privateKey?: CryptoKey;
}

export interface TestGateway {
  gatewayId: string;
  facilityId: string;
  groupId: string;
  privateJwk: JWK;
  publicJwk: JWK;
  /** Signs an agent JWT the way agents do: EdDSA, sub = gateway id, aud = public URL, iat, exp, jti. */
  token(opts?: AgentTokenOptions): Promise<string>;
  /** Marks the gateway revoked, directly in the database. */
  revoke(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Shared inputs: migrations, cache directory, password hash

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

/** Every seeded user of this process shares one password: scrypt costs a third of a second per hash. */
export const SEED_PASSWORD = `ferry-test-${randomBytes(12).toString('base64url')}`;
let seedHashP: Promise<string> | undefined;
function seedPasswordHash(): Promise<string> {
  seedHashP ??= hashPassword(SEED_PASSWORD);
  return seedHashP;
}

let counter = 0;
function nextId(): string {
  counter += 1;
  return `${process.pid.toString(36)}${counter.toString(36)}${randomBytes(3).toString('hex')}`;
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

let snapshotP: Promise<Blob> | undefined;
function pgliteSnapshot(): Promise<Blob> {
  snapshotP ??= loadOrBuildSnapshot().catch((err: unknown) => {
    snapshotP = undefined;
    throw err;
  });
  return snapshotP;
}

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

let adminP: Promise<PgAdmin> | undefined;
function pgAdmin(): Promise<PgAdmin> {
  adminP ??= setUpPgAdmin().catch((err: unknown) => {
    adminP = undefined;
    throw err;
  });
  return adminP;
}

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
  counter += 1;
  const name = `ferry_test_${Date.now().toString(36)}_${process.pid}_${counter}`;
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

// ---------------------------------------------------------------------------------------------
// Blob stores: a temp directory, or a bucket on the test S3 server

import { S3_TEST_HINT, s3TestConfig, testS3Client } from './s3.js';

export { S3_TEST_HINT, type S3TestConfig, s3TestConfig, testS3Client } from './s3.js';

async function openTestBlobStore(
  blobs: BlobBackend,
  db: Db,
  secrets: SecretBox,
): Promise<{ store: BlobStore; close(): Promise<void> }> {
  if (blobs === 'fs') {
    const root = await mkdtemp(join(tmpdir(), 'ferry-blobs-'));
    const store = new FsBlobStore({
      root,
      publicUrl: TEST_PUBLIC_URL,
      signingSecret: await loadBlobSigningSecret(db, secrets),
    });
    await store.init();
    return { store, close: () => rm(root, { recursive: true, force: true }) };
  }
  const cfg = s3TestConfig();
  const admin = testS3Client(cfg);
  const bucket = `ferry-test-${nextId()}`;
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (cause) {
    admin.destroy();
    const what = (cause as Error).name;
    throw new Error(`test S3 server at ${cfg.endpoint} refused CreateBucket (${what}); ${S3_TEST_HINT}`, {
      cause,
    });
  }
  const store = new S3BlobStore({
    bucket,
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
  });
  return {
    store,
    close: async () => {
      store.destroy();
      try {
        await emptyBucket(admin, bucket);
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        admin.destroy();
      }
    },
  };
}

/** Aborts open multipart uploads and deletes every object, so the bucket can be deleted. */
async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? [])
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
      );
    if (!uploads.IsTruncated) break;
  }
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
    if (keys.length === 0) break;
    // One by one: DeleteObjects needs a Content-MD5 or checksum, which radosgw 16 and the SDK disagree on.
    for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  }
}

// ---------------------------------------------------------------------------------------------
// The app

export async function createTestApp(
  backend: Backend,
  opts: {
    blobs?: BlobBackend;
    /** The agent release tarball to serve (default: a small real one, testAgentReleaseFile). */
    agentReleaseFile?: string;
    /** FERRY_WEBHOOK_ALLOW_PRIVATE: for webhook tests whose receiver listens on 127.0.0.1. */
    webhookAllowPrivate?: boolean;
  } = {},
): Promise<TestApp> {
  const blobs = opts.blobs ?? 'fs';
  const database = backend === 'pglite' ? await openPgliteClone() : await openPostgresClone();
  let blobStore: { store: BlobStore; close(): Promise<void> } | undefined;
  try {
    const { publicJwk, privateJwk } = await generateRecipientKeyPair();
    // As the server: the database's secrets are sealed with a key from the (here generated) key file.
    const secretBox = new SecretBox(() => [privateJwk]);
    blobStore = await openTestBlobStore(blobs, database.db, secretBox);
    const sessionSecret = await loadSessionSecret(database.db, secretBox);
    const deps: AppDeps = {
      database,
      log: pino({ level: 'silent' }),
      sessionSecret,
      recipientPublicKey: publicJwk,
      recipientPrivateKeys: [privateJwk],
      secretBox,
      publicUrl: TEST_PUBLIC_URL,
      agentRelease: new AgentRelease(opts.agentReleaseFile ?? testAgentReleaseFile()),
      blobStore: blobStore.store,
      webhookAllowPrivate: opts.webhookAllowPrivate ?? false,
    };
    const app = createApp(deps);
    const closeBlobs = blobStore.close;
    const t: TestApp = {
      backend,
      blobs,
      app,
      database,
      deps,
      request: (method, path, opts) => doRequest(app, method, path, opts),
      seedGroup: (name, opts) => seedGroupIn(t, name, opts),
      close: async () => {
        try {
          await database.close();
        } finally {
          await closeBlobs();
        }
      },
    };
    return t;
  } catch (err) {
    await database.close().catch(() => {});
    await blobStore?.close().catch(() => {});
    throw err;
  }
}

/** A GET through `app.request` answered as the raw Response: for bodies that are not JSON (zip, multipart). */
export async function getRaw(
  t: Pick<TestApp, 'app'>,
  path: string,
  opts: { token: string; headers?: Record<string, string> },
): Promise<Response> {
  return t.app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    headers: { authorization: `Bearer ${opts.token}`, ...opts.headers },
  });
}

async function doRequest<T>(
  app: OpenAPIHono<AppEnv>,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<TestResponse<T>> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  if (opts.rawBody !== undefined) body = opts.rawBody;
  // As a client on the wire would: without it the app cannot tell that a body is there.
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value;
  const res = await app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    method: method.toUpperCase(),
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let parsed: unknown = {};
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = {};
    }
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

async function insertUser(
  t: TestApp,
  groupId: string,
  slug: string,
  role: 'admin' | 'reader',
  isOperator: boolean,
): Promise<SeededUser> {
  const email = `${role}-${slug}@example.test`;
  const [row] = await t.database.db
    .insert(schema.users)
    .values({ groupId, email, passwordHash: await seedPasswordHash(), role, isOperator })
    .returning({ id: schema.users.id, sessionVersion: schema.users.sessionVersion });
  const id = row!.id;
  const token = await issueSessionToken(t.deps.sessionSecret, {
    sub: id,
    grp: groupId,
    role,
    op: isOperator,
    sv: row!.sessionVersion,
  });
  return { id, email, password: SEED_PASSWORD, token };
}

/**
 * One more user (with the shared seed password, not a temporary one, and a session token) in an
 * existing group: for tests whose calls end the caller's own sessions.
 */
export function seedUser(
  t: TestApp,
  groupId: string,
  role: 'admin' | 'reader',
  opts: { operator?: boolean } = {},
): Promise<SeededUser> {
  return insertUser(t, groupId, nextId(), role, opts.operator ?? false);
}

async function seedGroupIn(
  t: TestApp,
  name?: string,
  opts: { operator?: boolean } = {},
): Promise<SeededGroup> {
  const slug = nextId();
  const groupName = name ?? `Group ${slug}`;
  const [group] = await t.database.db
    .insert(schema.groups)
    .values({ name: groupName })
    .returning({ id: schema.groups.id });
  const groupId = group!.id;
  const admin = await insertUser(t, groupId, slug, 'admin', opts.operator ?? false);
  const reader = await insertUser(t, groupId, slug, 'reader', false);
  return { groupId, name: groupName, admin, reader };
}

/** A group whose admin is also a platform operator. */
export function seedOperator(t: TestApp, name?: string): Promise<SeededGroup> {
  return t.seedGroup(name, { operator: true });
}

/**
 * A session token signed with the app's real secret, with any claims and lifetime (for expiry tests).
 * Its session version is the user's current one unless `sv` is given.
 */
export async function sessionTokenFor(
  t: TestApp,
  user: { id: string; groupId: string; role: 'admin' | 'reader'; isOperator?: boolean },
  opts: { expSeconds?: number; secret?: Uint8Array; sv?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + (opts.expSeconds ?? 1800);
  const [row] = await t.database.db
    .select({ sv: schema.users.sessionVersion })
    .from(schema.users)
    .where(eq(schema.users.id, user.id));
  const sv = opts.sv ?? row?.sv ?? 1;
  return new SignJWT({ grp: user.groupId, role: user.role, op: user.isOperator ?? false, sv })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer('ferry-control-plane')
    .setAudience('ferry-control-plane')
    .setIssuedAt(Math.min(now, exp - 60))
    .setExpirationTime(exp)
    .sign(opts.secret ?? t.deps.sessionSecret);
}

/** A facility of `group`, inserted directly (unique name and AE title unless given). */
export function seedFacility(
  t: TestApp,
  group: Pick<SeededGroup, 'groupId'>,
  opts: { name?: string; aeTitle?: string } = {},
): Promise<{ facilityId: string; name: string; aeTitle: string }> {
  return insertFacility(t.database.db, group.groupId, opts);
}

async function insertFacility(
  db: Db,
  groupId: string,
  opts: { name?: string; aeTitle?: string } = {},
): Promise<{ facilityId: string; name: string; aeTitle: string }> {
  const slug = nextId();
  const name = opts.name ?? `Facility ${slug}`;
  const aeTitle = opts.aeTitle ?? `F${slug}`.slice(0, 16).toUpperCase();
  const [facility] = await db
    .insert(schema.facilities)
    .values({ groupId, name, aeTitle })
    .returning({ id: schema.facilities.id });
  return { facilityId: facility!.id, name, aeTitle };
}

// ---------------------------------------------------------------------------------------------
// Agents

export async function newAgentKeyPair(): Promise<{ privateKey: CryptoKey; privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { privateKey, privateJwk: await exportJWK(privateKey), publicJwk: await exportJWK(publicKey) };
}

/** Signs an agent token as an agent does (see auth/agent-token.ts). */
export async function signAgentToken(
  privateKey: CryptoKey,
  gatewayId: string,
  opts: AgentTokenOptions & { defaultAudience?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const expSeconds = opts.expSeconds ?? 60;
  const exp = now + expSeconds;
  const iat = opts.iat ?? (expSeconds > 0 ? now : exp - 60);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(gatewayId)
    .setAudience(opts.aud ?? opts.defaultAudience ?? TEST_PUBLIC_URL)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(opts.jti ?? randomBytes(18).toString('base64url'))
    .sign(opts.privateKey ?? privateKey);
}

/**
 * Registers a gateway directly in the database (a new facility in `group` unless a `facilityId` is
 * given, on the group argument or in `opts`), with a fresh Ed25519 key pair, and returns a signer for its agent tokens.
 */
export async function enrollTestGateway(
  t: TestApp,
  group: Pick<SeededGroup, 'groupId'> & { facilityId?: string },
  opts: { facilityId?: string; hostname?: string } = {},
): Promise<TestGateway> {
  const facilityId = opts.facilityId ?? group.facilityId;
  return insertTestGateway(t.database.db, group.groupId, {
    ...opts,
    ...(facilityId ? { facilityId } : {}),
    publicUrl: t.deps.publicUrl,
  });
}

/** As enrollTestGateway, on any drizzle handle (benches use it against a server's database). */
export async function insertTestGateway(
  db: Db,
  groupId: string,
  opts: { facilityId?: string; hostname?: string; publicUrl?: string } = {},
): Promise<TestGateway> {
  const slug = nextId();
  const facilityId = opts.facilityId ?? (await insertFacility(db, groupId)).facilityId;
  const keys = await newAgentKeyPair();
  const [gw] = await db
    .insert(schema.gateways)
    .values({
      groupId,
      facilityId,
      publicKey: keys.publicJwk,
      hostname: opts.hostname ?? `gw-${slug}`,
      version: '0.0.0-test',
    })
    .returning({ id: schema.gateways.id });
  const gatewayId = gw!.id;
  const defaultAudience = opts.publicUrl ?? TEST_PUBLIC_URL;
  return {
    gatewayId,
    facilityId,
    groupId,
    privateJwk: keys.privateJwk,
    publicJwk: keys.publicJwk,
    token: (o = {}) => signAgentToken(keys.privateKey, gatewayId, { ...o, defaultAudience }),
    revoke: async () => {
      await db
        .update(schema.gateways)
        .set({ revokedAt: new Date() })
        .where(eq(schema.gateways.id, gatewayId));
    },
  };
}

/** A random UUID that names nothing (for "unknown resource" checks). */
export function unknownId(): string {
  return randomUUID();
}
