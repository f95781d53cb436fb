// Shared helpers for the receive-*.int.test.ts end-to-end tests: Part-10 meta parsing, streaming
// hashes and a streaming "does the spool contain this plaintext" search. The spool index and its
// on-disk layout are read through spool-layout.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentProcess } from '../harness/agent.js';
import { runAgentCli } from '../harness/agent.js';
import { runDcmtk } from '../harness/dcmtk.js';

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}

/** Every regular file under `dir`, recursively, as absolute paths. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await listFiles(p)));
    else if (d.isFile()) out.push(p);
  }
  return out.sort();
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** SHA-256 of a file from byte `start` on, streamed (never holds the file in memory). */
export async function sha256File(file: string, start = 0): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { start, highWaterMark: 4 << 20 })) {
    const b = chunk as Buffer;
    hash.update(b);
    bytes += b.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** One streamed pass over a Part-10 file: SHA-256 of the whole file and of its dataset (from `datasetOffset`). */
export async function sha256Part10(
  file: string,
  datasetOffset: number,
): Promise<{ whole: string; dataset: string; bytes: number; datasetBytes: number }> {
  const whole = createHash('sha256');
  const dataset = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    const b = chunk as Buffer;
    whole.update(b);
    if (bytes + b.length > datasetOffset) dataset.update(b.subarray(Math.max(0, datasetOffset - bytes)));
    bytes += b.length;
  }
  return {
    whole: whole.digest('hex'),
    dataset: dataset.digest('hex'),
    bytes,
    datasetBytes: Math.max(0, bytes - datasetOffset),
  };
}

export interface PartTenMeta {
  /** Offset of the first dataset byte (end of group 0002). */
  datasetOffset: number;
  /** Group 0002 string values by tag 'ggggeeee' (UIDs without their trailing NUL padding). */
  values: Map<string, string>;
}

const LONG_VRS = new Set('OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '));

/**
 * Parses the File Meta Information of a Part-10 file, reading only its head (so it is cheap for a
 * 1 GiB file). Returns null when the file has no preamble + 'DICM'. Walks explicit VR little endian
 * group 0002 elements and cross-checks (0002,0000) group length when present.
 */
export async function readMeta(file: string): Promise<PartTenMeta | null> {
  const fh = await open(file, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(256 << 10);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.length < 132 || head.toString('latin1', 128, 132) !== 'DICM') return null;
  const values = new Map<string, string>();
  let pos = 132;
  let groupEnd: number | undefined;
  while (pos + 8 <= head.length && head.readUInt16LE(pos) === 0x0002) {
    const tag = `0002${head
      .readUInt16LE(pos + 2)
      .toString(16)
      .padStart(4, '0')}`;
    const vr = head.toString('latin1', pos + 4, pos + 6);
    let length: number;
    let headerLength: number;
    if (LONG_VRS.has(vr)) {
      length = head.readUInt32LE(pos + 8);
      headerLength = 12;
    } else {
      length = head.readUInt16LE(pos + 6);
      headerLength = 8;
    }
    const value = head.subarray(pos + headerLength, pos + headerLength + length);
    if (value.length !== length) throw new Error(`${file}: meta element ${tag} runs past the read head`);
    if (tag === '00020000') groupEnd = pos + headerLength + length + value.readUInt32LE(0);
    else if (vr === 'UI' || vr === 'SH' || vr === 'AE')
      values.set(tag, value.toString('latin1').replace(/[\0 ]+$/, ''));
    pos += headerLength + length;
  }
  if (groupEnd !== undefined && groupEnd !== pos)
    throw new Error(`${file}: group length says the meta ends at ${groupEnd}, elements end at ${pos}`);
  return { datasetOffset: pos, values };
}

export const META = {
  sopClassUid: '00020002',
  sopInstanceUid: '00020003',
  transferSyntaxUid: '00020010',
  implementationClassUid: '00020012',
} as const;

/** Runs `ferry-agent export` into `out`; the caller asserts on the result. */
export function exportSpool(dataDir: string, keyPath: string, out: string) {
  return runAgentCli(['export', '--data-dir', dataDir, '--key', keyPath, '--out', out]);
}

export interface SpoolStatus {
  count: number;
  bytes: number;
  byState: Record<string, number>;
  oldest: { id: string; receivedAt: string; state: string } | null;
  studies: { studyInstanceUid: string; instances: number; bytes: number }[];
}

export async function statusJson(dataDir: string): Promise<SpoolStatus> {
  const r = await runAgentCli(['status', '--data-dir', dataDir, '--json']);
  if (r.code !== 0) throw new Error(`ferry-agent status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SpoolStatus;
}

export interface StoreEvent {
  event: 'dicom.store';
  sopInstanceUid: string;
  objectId?: string;
  status: string;
  duplicate?: boolean;
  version?: number;
  bytes: number;
  error?: string;
}

export function storeEvents(agent: AgentProcess): StoreEvent[] {
  return agent.logLines().filter((l) => l.event === 'dicom.store') as unknown as StoreEvent[];
}

/** Polls `check` until it returns true (log lines travel through a pipe, a little after the response). */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Which of `needles` occur anywhere in the files under `dir` (recursively). Files are streamed with
 * an overlap of (longest needle - 1) bytes, so matches across chunk borders are found and big
 * files are never read whole.
 */
export async function findInFiles(
  dir: string,
  needles: { label: string; bytes: Buffer }[],
): Promise<{ label: string; file: string }[]> {
  return searchFiles(await listFiles(dir), needles);
}

/** Like findInFiles, for a list of files. */
export async function searchFiles(
  files: string[],
  needles: { label: string; bytes: Buffer }[],
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
 * Non-empty string values of the given attributes anywhere in a DICOM file (nested ones too), as
 * `dcmdump +P` prints them.
 */
export async function dicomStrings(file: string, attributes: string[]): Promise<string[]> {
  const args = ['-q', ...attributes.flatMap((a) => ['+P', a]), file];
  const r = await runDcmtk('dcmdump', args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`dcmdump ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  const values: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*\([0-9a-f]{4},[0-9a-f]{4}\) [A-Z]{2} \[(.*)\]/.exec(line);
    if (m?.[1]) values.push(m[1]);
  }
  return values;
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
