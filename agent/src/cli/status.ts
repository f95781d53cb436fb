import { pino } from 'pino';
import type { IndexEntry } from '../spool/index-entry.js';
import { spoolPaths } from '../spool/paths.js';
import { SpoolLog } from '../spool/spool-log.js';
import { parse, requireString } from './args.js';

export interface SpoolStatus {
  count: number;
  bytes: number;
  byState: Record<string, number>;
  oldest: { id: string; receivedAt: string; state: string } | null;
  studies: { studyInstanceUid: string; instances: number; bytes: number }[];
}

export function summarize(entries: IndexEntry[]): SpoolStatus {
  const waiting = entries.filter((e) => e.state !== 'delivered');
  const byState: Record<string, number> = {};
  const studies = new Map<string, { instances: number; bytes: number }>();
  let oldest: IndexEntry | undefined;
  for (const e of waiting) {
    byState[e.state] = (byState[e.state] ?? 0) + 1;
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
  const log = await SpoolLog.open(spoolPaths(dataDir), pino({ level: 'silent' }), { readOnly: true });
  const status = summarize(log.all());
  if (values.json) {
    // --entries adds every index entry (UIDs, sizes, hashes, states: no patient data) for scripts.
    const doc = values.entries ? { ...status, entries: log.all() } : status;
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const lines = [
    `spool: ${status.count} instance(s), ${status.bytes} bytes`,
    `states: ${
      Object.entries(status.byState)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '(empty)'
    }`,
    `oldest: ${status.oldest ? `${status.oldest.receivedAt} (${status.oldest.id}, ${status.oldest.state})` : '-'}`,
    ...status.studies.map((s) => `study ${s.studyInstanceUid}: ${s.instances} instance(s), ${s.bytes} bytes`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
