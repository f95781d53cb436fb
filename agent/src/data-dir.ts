import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { exposedDataDirError, FerryError } from '@ferry/shared';

/**
 * Refuses to run on a data directory other local users can read, write or enter: the spool, the
 * gateway key and agent.json live there. A missing directory is left to the caller to report.
 */
export async function assertPrivateDataDir(dataDir: string): Promise<void> {
  const dir = resolve(dataDir);
  let mode: number;
  try {
    mode = (await stat(dir)).mode;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new FerryError('config.unreadable', `the data directory ${dir} cannot be read (${code})`, {
      cause,
    });
  }
  const exposed = exposedDataDirError(dir, mode);
  if (exposed) throw exposed;
}

/** Makes a directory's entries (creates, renames, unlinks) durable. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
