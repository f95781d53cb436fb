import { FerryError } from '../errors/index.js';

/**
 * Nothing either program writes may be read by other local users: both set this umask first thing,
 * and create their data, key and spool directories with PRIVATE_DIR_MODE.
 */
export const PRIVATE_UMASK = 0o077;
export const PRIVATE_DIR_MODE = 0o700;

/** `path` as a shell word, so the printed command can be pasted whatever the path holds. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/**
 * The error for a data directory whose mode lets group or others read, write or enter it, or
 * undefined when only its owner can. The message names the directory and the exact chmod that fixes
 * it: a program that ran with a wider umask before may have left files in there readable.
 */
export function exposedDataDirError(dir: string, mode: number): FerryError | undefined {
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(3, '0');
  return new FerryError(
    'config.data_dir_exposed',
    `the data directory ${dir} is open to other local users (mode ${octal}); make it private with \`chmod 700 ${shellWord(dir)}\` (and \`chmod -R go-rwx ${shellWord(dir)}\` for what is already in it), then start again`,
  );
}
