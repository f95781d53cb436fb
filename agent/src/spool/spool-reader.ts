import type { ReadStream } from 'node:fs';
import { pino } from 'pino';
import type { IndexEntry } from './index-entry.js';
import { spoolPaths } from './paths.js';
import { readSealed } from './spool.js';
import { SpoolLog } from './spool-log.js';

/** A spool looked at from the side (status, export): it writes nothing and takes no lock. */
export interface SpoolReader {
  /** The index as its log stood when opened. */
  entries(): IndexEntry[];
  readSealed(id: string): ReadStream;
}

/** Reads the spool of `dataDir`, which an agent may be running on; a missing spool reads as empty. */
export async function openSpoolReader(dataDir: string): Promise<SpoolReader> {
  const log = await SpoolLog.open(spoolPaths(dataDir), pino({ level: 'silent' }), { readOnly: true });
  return { entries: () => log.all(), readSealed: (id) => readSealed(log, id) };
}
