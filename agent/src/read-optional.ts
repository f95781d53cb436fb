import { readFile } from 'node:fs/promises';
import { FerryError } from '@ferry/shared';

/** A file's text, or undefined when it does not exist; any other read failure is a config error. */
export async function readOptionalText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new FerryError('config.unreadable', `${file} cannot be read (${code})`, { cause });
  }
}
