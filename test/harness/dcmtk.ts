// Thin wrappers around the DCMTK command-line tools used as reference peers in tests.
//
// Tests must fail, never skip, when DCMTK is missing: requireTool throws with an install hint.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export type DcmtkTool = 'storescu' | 'echoscu' | 'storescp' | 'dcmdump' | 'dcmsend' | 'dcmodify';

const toolCache = new Map<string, string>();

/** Absolute path of a DCMTK binary found on PATH; throws with an install hint when it is missing. */
export function requireTool(name: string): string {
  const cached = toolCache.get(name);
  if (cached !== undefined) return cached;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      toolCache.set(name, candidate);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(
    `DCMTK tool '${name}' was not found on PATH. The interoperability tests need DCMTK: ` +
      'install it with `apt-get install -y dcmtk`.',
  );
}

export interface ToolResult {
  /** Exit code, or null when the process died from a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock run time in milliseconds. */
  ms: number;
  /** True when the run was killed because it exceeded `timeoutMs`. */
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a DCMTK tool with TCP_NODELAY=1 and collects its output. Rejects only if it cannot be spawned. */
export function runDcmtk(tool: DcmtkTool, args: string[], opts: RunOptions = {}): Promise<ToolResult> {
  const bin = requireTool(tool);
  const started = performance.now();
  return new Promise<ToolResult>((resolve, reject) => {
    const child = spawn(bin, args, {
      env: { ...process.env, ...opts.env, TCP_NODELAY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - started,
        timedOut,
      });
    });
  });
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
 * Top-level (not nested in a sequence) string values by tag, e.g. `{ '0020,000d': '1.2.3' }`, as
 * `dcmdump` prints them without indentation. Long values are not loaded.
 */
export async function topLevelStrings(file: string, tags: string[]): Promise<Record<string, string>> {
  const r = await runDcmtk('dcmdump', ['-q', '-M', file], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`dcmdump ${file} exited ${String(r.code)}: ${r.stderr}`);
  const wanted = new Set(tags.map((t) => t.toLowerCase()));
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^\(([0-9a-f]{4},[0-9a-f]{4})\) [A-Z]{2} \[(.*?)\]/.exec(line);
    if (m?.[1] && m[2] !== undefined && wanted.has(m[1])) out[m[1]] = m[2];
  }
  return out;
}

interface PeerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Called AE title, default 'GATEWAY'. */
  calledAe?: string;
  /** Calling AE title, default 'STORESCU' (storescu) or 'ECHOSCU' (echoscu). */
  callingAe?: string;
  /** Extra options, placed before the peer/port arguments (e.g. `['-R', '-xs']`). */
  extraArgs?: string[];
  /** Kill the tool (SIGKILL) after this many ms; the result then has timedOut=true. */
  timeoutMs?: number;
  /** Add `-v`. Needed for parseStorescuOutput to see per-instance statuses. Default false. */
  verbose?: boolean;
}

export interface StorescuOptions extends PeerOptions {
  /** Files (or, with scanDir, more directories) to send, all in one association. */
  files: string[];
  /**
   * Directories to send recursively (`+sd +r`). Files that are not DICOM are sent too and fail
   * ("Bad DICOM file"), so keep the tree clean or set scanPattern.
   */
  scanDir?: string | string[];
  /** `+sp PATTERN` wildcard for file names found by scanDir, e.g. '*.dcm'. */
  scanPattern?: string;
  /**
   * `-nh`: keep going after an unsuccessful store. Beware: with -nh storescu exits 0 even when
   * every store failed, so check parseStorescuOutput (needs verbose). Without -nh (default) the
   * first failure ends the association and storescu exits non-zero.
   */
  noHalt?: boolean;
}

/** storescu [opts] -aet CALLING -aec CALLED host port files... */
export function storescu(opts: StorescuOptions): Promise<ToolResult> {
  const args = ['-aet', opts.callingAe ?? 'STORESCU', '-aec', opts.calledAe ?? 'GATEWAY'];
  if (opts.verbose) args.push('-v');
  if (opts.noHalt) args.push('-nh');
  const dirs = opts.scanDir === undefined ? [] : Array.isArray(opts.scanDir) ? opts.scanDir : [opts.scanDir];
  if (dirs.length > 0) {
    args.push('+sd', '+r');
    if (opts.scanPattern !== undefined) args.push('+sp', opts.scanPattern);
  }
  args.push(...(opts.extraArgs ?? []), opts.host ?? '127.0.0.1', String(opts.port), ...opts.files, ...dirs);
  return runDcmtk('storescu', args, runOpts(opts.timeoutMs));
}

export type EchoscuOptions = PeerOptions;

/** echoscu [opts] -aet CALLING -aec CALLED host port (C-ECHO). */
export function echoscu(opts: EchoscuOptions): Promise<ToolResult> {
  const args = ['-aet', opts.callingAe ?? 'ECHOSCU', '-aec', opts.calledAe ?? 'GATEWAY'];
  if (opts.verbose) args.push('-v');
  args.push(...(opts.extraArgs ?? []), opts.host ?? '127.0.0.1', String(opts.port));
  return runDcmtk('echoscu', args, runOpts(opts.timeoutMs));
}

function runOpts(timeoutMs: number | undefined): RunOptions {
  return timeoutMs === undefined ? {} : { timeoutMs };
}

export interface StoreOutcome {
  /** Path as storescu printed it in "Sending file: ...". */
  file: string;
  /** Text of "Received Store Response (...)", e.g. 'Success', 'Refused: OutOfResources'; null if none. */
  status: string | null;
  /** Success or a Warning status. */
  ok: boolean;
  /** E: lines logged while this file was being sent. */
  errors: string[];
}

export interface StorescuSummary {
  outcomes: StoreOutcome[];
  succeeded: number;
  warnings: number;
  /** Files that got a failure status or no response at all (unreadable file, no presentation context, ...). */
  failed: number;
  /** All E:/F: lines, in order. */
  errors: string[];
}

/**
 * Per-instance results from storescu's log. Requires `-v` (StorescuOptions.verbose); pass the
 * stderr of the run (stdout only carries the XMIT progress dots). Example (-v -nh):
 *
 *   I: Sending file: CT_small.dcm
 *   I: Converting transfer syntax: Little Endian Explicit -> Little Endian Explicit
 *   I: Sending Store Request (MsgID 1, CT)
 *   I: Received Store Response (Refused: OutOfResources)
 *   I: Sending file: unsendable/priv_SQ.dcm
 *   E: No SOP Class or Instance UID in file: unsendable/priv_SQ.dcm
 */
export function parseStorescuOutput(log: string): StorescuSummary {
  const outcomes: StoreOutcome[] = [];
  const errors: string[] = [];
  let current: StoreOutcome | undefined;
  for (const raw of log.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const sending = /^[IDW]: Sending file: (.*)$/.exec(line);
    if (sending) {
      current = { file: sending[1] ?? '', status: null, ok: false, errors: [] };
      outcomes.push(current);
      continue;
    }
    const response = /^[IWE]: Received Store Response \((.*)\)$/.exec(line);
    if (response && current) {
      const status = response[1] ?? '';
      current.status = status;
      current.ok = status === 'Success' || status.startsWith('Warning');
      continue;
    }
    if (/^[EF]: /.test(line)) {
      errors.push(line.slice(3));
      if (current && current.status === null) current.errors.push(line.slice(3));
    }
  }
  const succeeded = outcomes.filter((o) => o.status === 'Success').length;
  const warnings = outcomes.filter((o) => o.ok && o.status !== 'Success').length;
  return { outcomes, succeeded, warnings, failed: outcomes.length - succeeded - warnings, errors };
}

export interface StorescpOptions {
  port: number;
  outDir: string;
  /** Default 'REF'. storescp accepts any called AE title unless configured otherwise. */
  aeTitle?: string;
  /** e.g. ['-fe', '.dcm'], ['+uf'] (unique names instead of overwriting same-UID files), ['-v']. */
  extraArgs?: string[];
  /**
   * `+B` (default true): write the received dataset exactly as it arrived. Note: `-B` is DCMTK's
   * *normal* mode (re-encodes) despite appearances; `+B` is the bit-preserving one.
   */
  bitPreserving?: boolean;
  /** How long to wait for the port to accept connections. Default 10 s. */
  startTimeoutMs?: number;
  /**
   * `-xf FILE PROFILE` instead of `+xa`: the presentation contexts and transfer-syntax preference
   * of a storescp.cfg profile (e.g. Debian's /etc/dcmtk/storescp.cfg `Default`, compressed first).
   */
  configFile?: { file: string; profile: string };
}

export interface Storescp {
  pid: number;
  port: number;
  outDir: string;
  /** stdout+stderr of storescp so far (for assertion messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Reference SCP: `storescp +B +xa|-xf CFG PROFILE -od OUT -aet REF [extra] PORT`, with TCP_NODELAY=1. */
export async function startStorescp(opts: StorescpOptions): Promise<Storescp> {
  const bin = requireTool('storescp');
  const args = [
    opts.bitPreserving === false ? '-B' : '+B',
    ...(opts.configFile ? ['-xf', opts.configFile.file, opts.configFile.profile] : ['+xa']),
    '-od',
    opts.outDir,
    '-aet',
    opts.aeTitle ?? 'REF',
    ...(opts.extraArgs ?? []),
    String(opts.port),
  ];
  const child = spawn(bin, args, {
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (b: Buffer) => {
    log += b.toString('utf8');
  });
  child.stderr.on('data', (b: Buffer) => {
    log += b.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  await spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error('storescp did not start');

  const stop = async (): Promise<void> => {
    if (!hasExited(child)) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await exited;
  };

  const died = new AbortController();
  void exited.then(() => died.abort());
  try {
    await waitForPort(opts.port, '127.0.0.1', opts.startTimeoutMs ?? 10_000, died.signal);
  } catch (e) {
    await stop();
    if (died.signal.aborted) {
      throw new Error(`storescp exited during startup (code ${String(child.exitCode)}): ${log}`);
    }
    throw e;
  }
  return { pid, port: opts.port, outDir: opts.outDir, output: () => log, stop };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves once host:port accepts a TCP connection; rejects after timeoutMs or when `signal` aborts. */
export async function waitForPort(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 10_000,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new Error(`gave up waiting for ${host}:${port}: aborted`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** Explicit VR little endian VRs whose elements have a reserved field and a 32-bit length. */
export const LONG_LENGTH_VRS = new Set('OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '));

/**
 * The bytes of a Part-10 file after its File Meta Information (group 0002), i.e. the dataset as it
 * travelled on the wire. Uses (0002,0000) group length when present, else walks the explicit VR
 * little endian group 0002 elements. A file without the 128-byte preamble + 'DICM' has no meta
 * header, so the whole file is returned.
 */
export async function datasetAfterMeta(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  let buf: Buffer;
  try {
    buf = await handle.readFile();
  } finally {
    await handle.close();
  }
  if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') return buf;
  return buf.subarray(metaEnd(buf, file));
}

function metaEnd(buf: Buffer, file: string): number {
  const fail = (why: string): never => {
    throw new Error(`${file}: malformed file meta information: ${why}`);
  };
  let pos = 132;
  if (
    buf.length >= pos + 12 &&
    buf.readUInt16LE(pos) === 0x0002 &&
    buf.readUInt16LE(pos + 2) === 0x0000 &&
    buf.toString('latin1', pos + 4, pos + 6) === 'UL' &&
    buf.readUInt16LE(pos + 6) === 4
  ) {
    const end = pos + 12 + buf.readUInt32LE(pos + 8);
    if (end > buf.length) fail(`group length ${end - pos - 12} runs past end of file`);
    return end;
  }
  while (pos + 4 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
    if (pos + 8 > buf.length) fail(`truncated element at offset ${pos}`);
    const vr = buf.toString('latin1', pos + 4, pos + 6);
    let length: number;
    let header: number;
    if (LONG_LENGTH_VRS.has(vr)) {
      if (pos + 12 > buf.length) fail(`truncated element at offset ${pos}`);
      length = buf.readUInt32LE(pos + 8);
      header = 12;
    } else {
      length = buf.readUInt16LE(pos + 6);
      header = 8;
    }
    if (length === 0xffffffff) fail(`undefined length at offset ${pos}`);
    pos += header + length;
    if (pos > buf.length) fail(`element at offset ${pos - header - length} runs past end of file`);
  }
  return pos;
}
