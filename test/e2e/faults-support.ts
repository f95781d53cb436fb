// Shared helpers for the policy-* and faults-* end-to-end tests: spool status, export, hashing. The
// spool index and its on-disk layout are read through spool-layout.ts.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_BIN, type AgentProcess, type RecipientKeys, runAgentCli } from '../harness/agent.js';
import { spoolDirs } from './spool-layout.js';

export interface SpoolStatusJson {
  count: number;
  bytes: number;
  byState: Record<string, number>;
  studies: { studyInstanceUid: string; instances: number; bytes: number }[];
}

/** `ferry-agent status --json`; throws with the CLI output when it fails. */
export async function spoolStatus(dataDir: string): Promise<SpoolStatusJson> {
  const r = await runAgentCli(['status', '--data-dir', dataDir, '--json']);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as SpoolStatusJson;
}

/** The names in DIR/spool/tmp and DIR/spool/objects; objects/ holds only objects too large to be inline. */
export const spoolFiles = spoolDirs;

/** Runs `ferry-agent export` and returns every exported file keyed by its name (SOP Instance UID.dcm). */
export async function exportSpool(
  dataDir: string,
  keys: RecipientKeys,
  out: string,
): Promise<{ code: number | null; stdout: string; stderr: string; files: Map<string, string> }> {
  const r = await runAgentCli(['export', '--data-dir', dataDir, '--key', keys.privatePath, '--out', out]);
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else files.set(e.name, join(dir, e.name));
    }
  };
  await walk(out);
  return { ...r, files };
}

/** Offset of the dataset in a Part-10 file (after the group 0002 meta), read from the first 64 KiB. */
export async function datasetOffset(file: string): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(64 << 10);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const buf = head.subarray(0, bytesRead);
    if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') return 0;
    let pos = 132;
    while (pos + 8 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
      const vr = buf.toString('latin1', pos + 4, pos + 6);
      const long = ['OB', 'OW', 'UN', 'UT', 'SQ'].includes(vr);
      pos += long ? 12 + buf.readUInt32LE(pos + 8) : 8 + buf.readUInt16LE(pos + 6);
    }
    return pos;
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a file from `start`, streamed (large files never sit in memory). */
export async function sha256File(file: string, start = 0): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { start, highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), bytes };
}

/** SHA-256 of a Part-10 file's dataset (everything after its meta information), streamed. */
export async function datasetHash(file: string): Promise<{ hash: string; bytes: number }> {
  return sha256File(file, await datasetOffset(file));
}

export function events(agent: AgentProcess, event: string): Record<string, unknown>[] {
  return agent.logLines().filter((l) => l.event === event);
}

/**
 * `ferry-agent start` expected to fail: resolves with its exit code and stderr; an agent that comes
 * up anyway is killed after `timeoutMs` and reported as code null.
 */
export function startExpectingFailure(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AGENT_BIN, 'start', '--data-dir', dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Log events once at least `count` of them have arrived. The agent logs before it answers, but its
 * stdout pipe can reach us after the socket reply does, so log checks must wait, not just look.
 */
export async function eventsEventually(
  agent: AgentProcess,
  event: string,
  count: number,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = events(agent, event);
    if (found.length >= count) return found;
    if (Date.now() > deadline)
      throw new Error(`only ${found.length} of ${count} '${event}' log events after ${timeoutMs} ms`);
    await sleep(20);
  }
}
