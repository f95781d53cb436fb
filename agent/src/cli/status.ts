import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FerryError } from '@ferry/shared';
import { type IndexEntry, SPOOL_STATES } from '../spool/index-entry.js';
import { openSpoolReader } from '../spool/spool-reader.js';
import { parse, requireString } from './args.js';

export interface SpoolStatus {
  /** Entries not delivered yet (spooled, uploading, quarantined) and their sealed bytes. */
  count: number;
  bytes: number;
  /** Entries per state, delivered ones included; states with none are left out. */
  byState: Record<string, number>;
  oldest: { id: string; receivedAt: string; state: string } | null;
  /** What the uploader still has to send (spooled and uploading): sealed bytes, the oldest one's age. */
  pending: { count: number; bytes: number };
  oldestUnsent: { id: string; receivedAt: string; ageSeconds: number } | null;
  studies: { studyInstanceUid: string; instances: number; bytes: number }[];
}

const unsent = (e: IndexEntry) => e.state === 'spooled' || e.state === 'uploading';

export function summarize(entries: IndexEntry[], now = Date.now()): SpoolStatus {
  const waiting = entries.filter((e) => e.state !== 'delivered');
  const byState: Record<string, number> = {};
  for (const e of entries) byState[e.state] = (byState[e.state] ?? 0) + 1;
  const studies = new Map<string, { instances: number; bytes: number }>();
  let oldest: IndexEntry | undefined;
  const pending = { count: 0, bytes: 0 };
  let oldestUnsent: IndexEntry | undefined;
  for (const e of entries) {
    if (!unsent(e)) continue;
    pending.count++;
    pending.bytes += e.objectBytes;
    if (!oldestUnsent || e.receivedAt < oldestUnsent.receivedAt) oldestUnsent = e;
  }
  for (const e of waiting) {
    const s = studies.get(e.studyInstanceUid ?? '(unknown)') ?? { instances: 0, bytes: 0 };
    s.instances++;
    s.bytes += e.objectBytes;
    studies.set(e.studyInstanceUid ?? '(unknown)', s);
    if (!oldest || e.receivedAt < oldest.receivedAt) oldest = e;
  }
  return {
    count: waiting.length,
    bytes: waiting.reduce((n, e) => n + e.objectBytes, 0),
    byState,
    oldest: oldest ? { id: oldest.id, receivedAt: oldest.receivedAt, state: oldest.state } : null,
    pending,
    oldestUnsent: oldestUnsent
      ? {
          id: oldestUnsent.id,
          receivedAt: oldestUnsent.receivedAt,
          ageSeconds: Math.max(0, Math.floor((now - Date.parse(oldestUnsent.receivedAt)) / 1000)),
        }
      : null,
    studies: [...studies].map(([studyInstanceUid, s]) => ({ studyInstanceUid, ...s })),
  };
}

export async function statusCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    entries: { type: 'boolean' },
  });
  const dataDir = requireString(values, 'data-dir');
  await requireDataDir(dataDir);
  const spool = await openSpoolReader(dataDir);
  const status = summarize(spool.entries());
  if (values.json) {
    // --entries adds every index entry (UIDs, sizes, hashes, states: no patient data) for scripts.
    const doc = values.entries ? { ...status, entries: spool.entries() } : status;
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const unsentLine = status.oldestUnsent
    ? `; oldest unsent ${formatAge(status.oldestUnsent.ageSeconds)} old (${status.oldestUnsent.id})`
    : '';
  const lines = [
    `spool: ${status.count} instance(s) not delivered, ${status.bytes} bytes`,
    `states: ${SPOOL_STATES.map((k) => `${k}=${status.byState[k] ?? 0}`).join(' ')}`,
    `pending upload: ${status.pending.count} instance(s), ${status.pending.bytes} bytes${unsentLine}`,
    `oldest: ${status.oldest ? `${status.oldest.receivedAt} (${status.oldest.id}, ${status.oldest.state})` : '-'}`,
    ...status.studies.map((s) => `study ${s.studyInstanceUid}: ${s.instances} instance(s), ${s.bytes} bytes`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * The spool of a directory that is not there reads as empty, which would tell an admin with a typo in
 * the path that nothing is waiting: say that the directory is missing instead.
 */
export async function requireDataDir(dataDir: string): Promise<void> {
  const dir = resolve(dataDir);
  let problem: string | undefined;
  try {
    if (!(await stat(dir)).isDirectory()) problem = 'is not a directory';
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw cause;
    problem = 'does not exist';
  }
  if (problem)
    throw new FerryError(
      'config.data_dir_missing',
      `the data directory ${dir} ${problem}; pass the agent's --data-dir (the one in its service unit)`,
    );
}

function formatAge(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${seconds % 60}s`].filter(Boolean);
  return parts.slice(0, 2).join('');
}
