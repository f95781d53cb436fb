// The agent's spool as the end-to-end tests see it, and what they check it with:
// - the index through `ferry-agent status --json [--entries]` (the supported way to read it), and
//   the on-disk layout that index implies:
//     DIR/spool/log/NNNNNNNN.seg  log segments; objects of up to 1 MiB sealed live inline in their record
//     DIR/spool/objects/<id>.fobj  larger objects (inline: false), exactly objectBytes long
//     DIR/spool/tmp/<id>.part      large objects being received; empty once every store has finished
// - `ferry-agent export`, Part-10 meta parsing and streamed SHA-256 (1 GiB files never sit in memory);
// - a streaming "does any of these files contain this plaintext" search.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { expect } from 'vitest';
import type { SpoolStatus } from '../../agent/src/cli/status.js';
import type { IndexEntry } from '../../agent/src/spool/index-entry.js';
import { type AgentProcess, type RecipientKeys, runAgentCli } from './agent.js';

// ---------------------------------------------------------------------------------------------
// Files and directories

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}

/** Every regular file under `dir`, recursively, as absolute paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await listFiles(p)));
    else if (d.isFile()) out.push(p);
  }
  return out.sort();
}

/** The names in `dir`, sorted; none when it does not exist (yet). */
async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * The names in DIR/spool/tmp and DIR/spool/objects (empty when a directory does not exist yet);
 * objects/ holds only objects too large to be inline.
 */
export async function spoolDirs(dataDir: string): Promise<{ tmp: string[]; objects: string[] }> {
  return {
    tmp: await listDir(join(spoolDir(dataDir), 'tmp')),
    objects: await listDir(join(spoolDir(dataDir), 'objects')),
  };
}

/** DIR/spool/log/*.seg, sorted. */
export async function logSegments(dataDir: string): Promise<string[]> {
  const dir = join(spoolDir(dataDir), 'log');
  return (await listDir(dir)).filter((n) => /^\d{8}\.seg$/.test(n)).map((n) => join(dir, n));
}

/**
 * Every file under DIR/spool, for a "no plaintext in the spool" search. Expects the log segments
 * (at least one), where inline objects and the index live, to be among them.
 */
export async function spoolFilesToSearch(dataDir: string): Promise<string[]> {
  const files = await listFiles(spoolDir(dataDir));
  const segments = await logSegments(dataDir);
  expect(segments.length).toBeGreaterThan(0);
  expect(files).toEqual(expect.arrayContaining(segments));
  return files;
}

// ---------------------------------------------------------------------------------------------
// The index, through `ferry-agent status`

export type SpoolStatusWithEntries = SpoolStatus & { entries: IndexEntry[] };

async function statusCli(dataDir: string, extra: string[]): Promise<{ doc: unknown; stdout: string }> {
  const r = await runAgentCli(['status', '--data-dir', dataDir, '--json', ...extra]);
  if (r.code !== 0)
    throw new Error(`ferry-agent status ${extra.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return { doc: JSON.parse(r.stdout), stdout: r.stdout };
}

/** `ferry-agent status --json`; throws with the CLI output when it fails. */
export async function spoolStatus(dataDir: string): Promise<SpoolStatus> {
  return (await statusCli(dataDir, [])).doc as SpoolStatus;
}

/** `ferry-agent status --json --entries`: the summary plus every index entry. */
export async function statusWithEntries(dataDir: string): Promise<SpoolStatusWithEntries> {
  const { doc: parsed, stdout } = await statusCli(dataDir, ['--entries']);
  const doc = parsed as SpoolStatusWithEntries;
  if (!Array.isArray(doc.entries)) throw new Error(`status --entries printed no entries: ${stdout}`);
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
    const size = (await stat(join(spoolDir(dataDir), 'objects', name))).size;
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

// ---------------------------------------------------------------------------------------------
// Export

export interface ExportResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every exported file by its name (SOP Instance UID[.vN].dcm); the caller asserts on the result. */
  files: Map<string, string>;
}

/** Runs `ferry-agent export` of DIR's spool into `out` with the recipient's private key. */
export async function exportSpool(dataDir: string, keys: RecipientKeys, out: string): Promise<ExportResult> {
  const r = await runAgentCli(['export', '--data-dir', dataDir, '--key', keys.privatePath, '--out', out]);
  const exported = await listFiles(out).catch(() => []);
  return { ...r, files: new Map(exported.map((f) => [basename(f), f])) };
}

/**
 * Stops the agent (it must exit 0), then exports its whole spool into `out`: the export must
 * succeed and report every index entry. Returns those entries and the export.
 */
export async function stopAndExportAll(
  agent: AgentProcess,
  keys: RecipientKeys,
  out: string,
): Promise<{ entries: IndexEntry[]; exported: ExportResult }> {
  await agent.stop();
  expect(await agent.exited).toBe(0);
  const entries = await indexEntries(agent.dataDir);
  const exported = await exportSpool(agent.dataDir, keys, out);
  expect(exported.code, exported.stderr).toBe(0);
  expect(exported.stdout).toContain(`exported ${entries.length} of ${entries.length} instance(s)`);
  return { entries, exported };
}

export {
  datasetHash,
  META,
  type PartTenMeta,
  readMeta,
  sha256,
  sha256File,
  sha256Part10,
} from './part10.js';

// ---------------------------------------------------------------------------------------------
// Plaintext search

export interface Needle {
  label: string;
  bytes: Buffer;
}

/** Needles for latin1 strings, each labelled with itself. */
export function stringNeedles(strings: Iterable<string>): Needle[] {
  return [...strings].map((s) => ({ label: s, bytes: Buffer.from(s, 'latin1') }));
}

/**
 * Which of `needles` occur anywhere in the files under `dir` (recursively). Files are streamed with
 * an overlap of (longest needle - 1) bytes, so matches across chunk borders are found and big
 * files are never read whole.
 */
export async function findInFiles(
  dir: string,
  needles: Needle[],
): Promise<{ label: string; file: string }[]> {
  return searchFiles(await listFiles(dir), needles);
}

/** Like findInFiles, for a list of files. */
export async function searchFiles(
  files: string[],
  needles: Needle[],
): Promise<{ label: string; file: string }[]> {
  const hits: { label: string; file: string }[] = [];
  const overlap = Math.max(0, ...needles.map((n) => n.bytes.length)) - 1;
  for (const file of files) {
    const found = new Set<string>();
    let carry = Buffer.alloc(0);
    for await (const chunk of createReadStream(file, { highWaterMark: 8 << 20 })) {
      const window = carry.length === 0 ? (chunk as Buffer) : Buffer.concat([carry, chunk as Buffer]);
      for (const n of needles) if (!found.has(n.label) && window.includes(n.bytes)) found.add(n.label);
      carry = Buffer.from(window.subarray(Math.max(0, window.length - overlap)));
    }
    for (const label of found) hits.push({ label, file });
  }
  return hits;
}

/**
 * A `count`-byte window of `buf` at or after `at` that is distinctive binary: at least 8 distinct
 * byte values and at least 4 non-printable ones. (A window of pure text could be a UID, which the
 * index legitimately holds in plaintext.)
 */
export function distinctiveWindow(buf: Buffer, at: number, count = 48): Buffer | undefined {
  for (let start = Math.max(0, at); start + count <= buf.length; start += 8) {
    const w = buf.subarray(start, start + count);
    const binary = w.filter((b) => b < 0x20 || b > 0x7e).length;
    if (new Set(w).size >= 8 && binary >= 4) return Buffer.from(w);
  }
  return undefined;
}
