// The agent's spool as the end-to-end tests see it: the index through `ferry-agent status --json
// --entries` (the supported way to read it), and the on-disk layout that index implies.
//   DIR/spool/log/NNNNNNNN.seg  log segments; objects of up to 1 MiB sealed live inline in their record
//   DIR/spool/objects/<id>.fobj  larger objects (inline: false), exactly objectBytes long
//   DIR/spool/tmp/<id>.part      large objects being received; empty once every store has finished
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runAgentCli } from '../harness/agent.js';

/** One spooled object, as the agent's index records it. */
export interface IndexEntry {
  id: string;
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  transferSyntaxUid: string;
  callingAeTitle: string;
  receivedAt: string;
  plainBytes: number;
  sha256: string;
  objectBytes: number;
  version: number;
  state: string;
  /** true: the sealed object is inside its log record; false: it is objects/<id>.fobj. */
  inline: boolean;
}

export interface StatusWithEntries {
  count: number;
  bytes: number;
  byState: Record<string, number>;
  oldest: { id: string; receivedAt: string; state: string } | null;
  studies: { studyInstanceUid: string; instances: number; bytes: number }[];
  entries: IndexEntry[];
}

/** `ferry-agent status --json --entries`: the summary plus every index entry. */
export async function statusWithEntries(dataDir: string): Promise<StatusWithEntries> {
  const r = await runAgentCli(['status', '--data-dir', dataDir, '--json', '--entries']);
  if (r.code !== 0) throw new Error(`ferry-agent status --entries exited ${r.code}: ${r.stderr}${r.stdout}`);
  const doc = JSON.parse(r.stdout) as StatusWithEntries;
  if (!Array.isArray(doc.entries)) throw new Error(`status --entries printed no entries: ${r.stdout}`);
  for (const e of doc.entries)
    if (typeof e.id !== 'string' || typeof e.inline !== 'boolean' || typeof e.objectBytes !== 'number')
      throw new Error(`status --entries printed a malformed entry: ${JSON.stringify(e)}`);
  return doc;
}

/** Every index entry, one per stored object (an identical resend adds none). */
export async function indexEntries(dataDir: string): Promise<IndexEntry[]> {
  return (await statusWithEntries(dataDir)).entries;
}

/**
 * Entries that share a SOP Instance UID *and* a content hash: an object stored twice. The agent
 * must keep identical resends once, so any group here is a duplicate put.
 */
export function duplicateEntries(entries: IndexEntry[]): { key: string; ids: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const e of entries) {
    const key = `${e.sopInstanceUid}|${e.sha256}`;
    groups.set(key, [...(groups.get(key) ?? []), e.id]);
  }
  return [...groups].filter(([, ids]) => ids.length > 1).map(([key, ids]) => ({ key, ids }));
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The names in DIR/spool/tmp and DIR/spool/objects (empty when a directory does not exist yet). */
export async function spoolDirs(dataDir: string): Promise<{ tmp: string[]; objects: string[] }> {
  return {
    tmp: await listDir(join(dataDir, 'spool', 'tmp')),
    objects: await listDir(join(dataDir, 'spool', 'objects')),
  };
}

/**
 * Everything wrong with the spool's files given its index: a large (inline: false) entry must have
 * objects/<id>.fobj of exactly objectBytes, an inline entry must have no .fobj, objects/ must hold
 * nothing else, and tmp/ must be empty (every store has finished). Empty when consistent.
 */
export async function layoutProblems(dataDir: string, entries: IndexEntry[]): Promise<string[]> {
  const problems: string[] = [];
  const { tmp, objects } = await spoolDirs(dataDir);
  const present = new Set(objects);
  const expected = new Set<string>();
  for (const e of entries) {
    const name = `${e.id}.fobj`;
    if (e.inline) {
      if (present.has(name)) problems.push(`${e.id}: inline entry also has objects/${name}`);
      continue;
    }
    expected.add(name);
    if (!present.has(name)) {
      problems.push(`${e.id}: objects/${name} is missing`);
      continue;
    }
    const size = (await stat(join(dataDir, 'spool', 'objects', name))).size;
    if (size !== e.objectBytes)
      problems.push(`${e.id}: objects/${name} is ${size} bytes, index says ${e.objectBytes}`);
  }
  const inlineIds = new Set(entries.filter((e) => e.inline).map((e) => `${e.id}.fobj`));
  for (const name of objects)
    if (!expected.has(name) && !inlineIds.has(name))
      problems.push(`objects/${name} belongs to no index entry`);
  for (const name of tmp) problems.push(`tmp/${name} left behind`);
  // Inline objects take room in the log: its segments hold at least their sealed bytes plus a 12-byte
  // record head each (the export, not this, shows the bytes are the right ones).
  const inline = entries.filter((e) => e.inline);
  const need = inline.reduce((n, e) => n + e.objectBytes + 12, 0);
  let have = 0;
  for (const seg of await logSegments(dataDir)) have += (await stat(seg)).size;
  if (have < need)
    problems.push(
      `log segments hold ${have} bytes, less than the ${need} of ${inline.length} inline record(s)`,
    );
  return problems;
}

/** DIR/spool/log/*.seg, sorted. */
export async function logSegments(dataDir: string): Promise<string[]> {
  const dir = join(dataDir, 'spool', 'log');
  return (await listDir(dir)).filter((n) => /^\d{8}\.seg$/.test(n)).map((n) => join(dir, n));
}
