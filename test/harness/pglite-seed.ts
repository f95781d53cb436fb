// A control plane on the embedded database (PGlite) spends most of its first start creating the
// database cluster and migrating it. The end-to-end tests start dozens of them, each in a new data
// directory: they get a copy of one migrated, empty database instead, made once per migration set by
// the control plane's own openDatabase and migrate (what its first start runs) and cached on disk.
// Nothing else of a data directory is seeded: keys, blobs and the first admin are the control plane's
// own first-start work.
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { repoRoot } from './corpus.js';

const MIGRATIONS_DIR = join(repoRoot, 'control-plane', 'migrations');
const CACHE_DIR = join(repoRoot, 'node_modules', '.cache', 'ferry-test');
/** Bump when the way the seed is made changes (v2: migrate() also installs the job queue's schema). */
const RECIPE = 'cp-db-v2';

/**
 * What migrate() runs besides the migration files (the job queue's schema, say): a change to it or to
 * a dependency's version makes a new seed, so a cached one never lags the code.
 */
const MIGRATE_INPUTS = [
  join(repoRoot, 'control-plane', 'src', 'db', 'client.ts'),
  join(repoRoot, 'control-plane', 'src', 'jobs', 'queue.ts'),
  join(repoRoot, 'package-lock.json'),
];

/** Changes with any migration file, migrate()'s inputs and the PGlite version (the on-disk format). */
async function seedKey(): Promise<string> {
  const pglite = createRequire(join(repoRoot, 'control-plane', 'package.json')).resolve(
    '@electric-sql/pglite',
  );
  const pkg = JSON.parse(await readFile(join(dirname(pglite), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const h = createHash('sha256').update(RECIPE).update(pkg.version);
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true, recursive: true });
  for (const file of entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort())
    h.update(file.slice(MIGRATIONS_DIR.length))
      .update('\0')
      .update(await readFile(file));
  for (const file of MIGRATE_INPUTS)
    h.update(file)
      .update('\0')
      .update(await readFile(file).catch(() => Buffer.alloc(0)));
  return h.digest('hex').slice(0, 16);
}

let seedDir: Promise<string> | undefined;

/** The cached migrated database directory, made first if missing (renamed into place whole). */
function migratedSeed(): Promise<string> {
  seedDir ??= (async () => {
    const dir = join(CACHE_DIR, `control-plane-db-${await seedKey()}`);
    if (await exists(dir)) return dir;
    await mkdir(CACHE_DIR, { recursive: true });
    const tmp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    // Imported only here: a test file that finds the seed cached need not load PGlite and the schema.
    const { openDatabase } = await import('../../control-plane/src/db/client.js');
    const db = await openDatabase({ dataDir: tmp });
    await db.migrate();
    await db.close();
    // Another test file may have made it meanwhile: either copy is the same database.
    await rename(tmp, dir).catch(async (err: unknown) => {
      await rm(tmp, { recursive: true, force: true });
      if (!(await exists(dir))) throw err;
    });
    return dir;
  })().catch((err: unknown) => {
    seedDir = undefined;
    throw err;
  });
  return seedDir;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Gives a control-plane data directory that has no database yet a copy of the migrated one, where
 * the control plane keeps it (DATA_DIR/db); an existing database (a restart) is left alone.
 */
export async function seedControlPlaneDatabase(dataDir: string): Promise<void> {
  const target = join(dataDir, 'db');
  if (await exists(target)) return;
  const seed = await migratedSeed();
  // The control plane refuses a data directory others can read: make it as it would, 0700.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await cp(seed, target, { recursive: true, preserveTimestamps: true });
}
