import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exposedDataDirError, PRIVATE_DIR_MODE } from '@ferry/shared';

/**
 * Makes FERRY_DATA_DIR (0700) when it is missing and refuses one that other local users can read,
 * write or enter: the embedded database, the blobs and by default the key file live there.
 */
export async function ensurePrivateDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const exposed = exposedDataDirError(dir, (await stat(dir)).mode);
  if (exposed) throw exposed;
}

/**
 * Takes group and other permissions off everything under `dir`. PGlite's file layer (Emscripten's
 * NODEFS) sets 0666 on the files it creates whatever the umask: its directories honour the umask, so
 * the tree is closed to others anyway, and this closes the files themselves too.
 */
export async function narrowToOwner(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (st.isSymbolicLink()) return;
  if ((st.mode & 0o077) !== 0) await chmod(dir, st.mode & 0o700);
  if (!st.isDirectory()) return;
  for (const name of await readdir(dir)) await narrowToOwner(join(dir, name));
}
