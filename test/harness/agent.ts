// Runs the real agent as a child process (the built bin), as a hospital would run it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateRecipientKeyPair } from '@ferry/shared';
import type { JWK } from 'jose';
import { withAllocatorDefaults } from '../../agent/src/cli/allocator-env.js';
import { repoRoot, workDir } from './corpus.js';
import { freePort } from './dcmtk.js';
import { spawnService } from './service-process.js';

export const AGENT_BIN = join(repoRoot, 'agent', 'bin', 'ferry-agent.js');

export interface RecipientKeys {
  publicJwk: JWK;
  privateJwk: JWK;
  privatePath: string;
}

export async function recipientKeys(dir: string): Promise<RecipientKeys> {
  const { publicJwk, privateJwk } = await generateRecipientKeyPair();
  await mkdir(dir, { recursive: true });
  const privatePath = join(dir, 'recipient.private.jwk');
  await writeFile(privatePath, JSON.stringify(privateJwk), { mode: 0o600 });
  return { publicJwk, privateJwk, privatePath };
}

/** A fresh scratch directory under test/.work. */
export async function scratch(prefix: string): Promise<string> {
  await mkdir(workDir, { recursive: true });
  return mkdtemp(join(workDir, `${prefix}-`));
}

/** A fresh scratch directory (see scratch) with a recipient key pair in ROOT/keys. */
export async function keyedScratch(prefix: string): Promise<{ root: string; keys: RecipientKeys }> {
  const root = await scratch(prefix);
  return { root, keys: await recipientKeys(join(root, 'keys')) };
}

/**
 * Removes a scratch directory and everything in it (nothing to do when it was never made); stops
 * `agent` first, when given, as its data directory is in there.
 */
export async function removeScratch(root: string | undefined, agent?: AgentProcess): Promise<void> {
  await agent?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}

export interface AgentProcess {
  port: number;
  pid: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the agent logged so far (pino JSON lines on stdout, plus stderr). */
  output(): string;
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /** Peak resident set size so far, from /proc (VmHWM), in bytes. */
  peakRss(): Promise<number>;
  exited: Promise<number | null>;
}

export async function writeAgentConfig(dataDir: string, config: Record<string, unknown>): Promise<void> {
  // The agent refuses a data directory other users can read, as an installer makes it: 0700.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(join(dataDir, 'agent.json'), JSON.stringify(config, null, 2));
}

/** Starts `ferry-agent start --data-dir DIR` and resolves once it logs `agent.ready`. */
export async function startAgent(opts: {
  dataDir: string;
  config?: Record<string, unknown>;
  args?: string[];
  env?: Record<string, string>;
}): Promise<AgentProcess> {
  if (opts.config) {
    const port = (opts.config.port as number | undefined) ?? (await freePort());
    await writeAgentConfig(opts.dataDir, { host: '127.0.0.1', ...opts.config, port });
  }
  const service = await spawnService<{ port: number }>({
    name: 'agent',
    args: [AGENT_BIN, 'start', '--data-dir', opts.dataDir, ...(opts.args ?? [])],
    // As the supervisor starts it, so tests, benches and the soak measure the production allocator.
    env: { ...withAllocatorDefaults(process.env), FERRY_LOG_LEVEL: 'info', ...opts.env },
    readyEvent: 'agent.ready',
    timeoutMs: 20_000,
  });
  const { child, exited, output: out } = service;
  const port = service.ready.port;
  // Parsed once each, as they arrive: tests poll this every few milliseconds over megabytes of log.
  const parsed: Record<string, unknown>[] = [];
  let parsedTo = 0;
  const logLines = () => {
    const text = out();
    const end = text.lastIndexOf('\n') + 1;
    if (end > parsedTo) {
      for (const l of text.slice(parsedTo, end).split('\n'))
        if (l.startsWith('{')) parsed.push(JSON.parse(l) as Record<string, unknown>);
      parsedTo = end;
    }
    return [...parsed];
  };
  return {
    port,
    pid: child.pid!,
    dataDir: opts.dataDir,
    child,
    output: out,
    logLines,
    exited,
    stop: service.stop,
    kill9: service.kill9,
    async peakRss() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
      return kb * 1024;
    },
  };
}

/**
 * A keyed scratch directory (see keyedScratch) and an agent spooling to ROOT/agent, sealing for its
 * recipient key; `config` adds to or overrides that agent.json. Removes the directory if the agent
 * does not come up.
 */
export async function scratchAgent(
  prefix: string,
  config: Record<string, unknown> = {},
): Promise<{ root: string; keys: RecipientKeys; agent: AgentProcess }> {
  const { root, keys } = await keyedScratch(prefix);
  try {
    const dataDir = join(root, 'agent');
    return {
      root,
      keys,
      agent: await startAgent({ dataDir, config: { recipientPublicKey: keys.publicJwk, ...config } }),
    };
  } catch (err) {
    await removeScratch(root);
    throw err;
  }
}

/**
 * `ferry-agent enroll` as an install line runs it: the token on standard input (never an argument),
 * the control plane's key pinned with the thumbprint its token answer gave.
 */
export function enrollAgent(
  opts: { server: string; token: string; keyThumbprint: string; dataDir: string },
  run: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAgentCli(
    [
      'enroll',
      '--server',
      opts.server,
      '--token-file',
      '-',
      '--key-thumbprint',
      opts.keyThumbprint,
      '--data-dir',
      opts.dataDir,
    ],
    { timeoutMs: 30_000, ...run, input: opts.token },
  );
}

/**
 * Runs an agent CLI command (status, export; or `start` expected to fail) and returns its output. With
 * `timeoutMs`, a command still running then is killed (SIGKILL) and reported as code null.
 */
export function runAgentCli(
  args: string[],
  opts: {
    timeoutMs?: number;
    env?: Record<string, string> /** Written to its standard input. */;
    input?: string;
  } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    // A command that exits without reading its input must not fail the write.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `ferry-agent start` expected to fail: resolves with its exit code and output; an agent that comes
 * up anyway is killed after `timeoutMs` and reported as code null.
 */
export function startExpectingFailure(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAgentCli(['start', '--data-dir', dataDir, ...args], { timeoutMs });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await sleep(20);
  }
}

/** The agent's log lines for `event` so far. */
export function events(agent: AgentProcess, event: string): Record<string, unknown>[] {
  return agent.logLines().filter((l) => l.event === event);
}

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
  await waitFor(
    () => events(agent, event).length >= count,
    timeoutMs,
    () => `${count} '${event}' log events (${events(agent, event).length} arrived)`,
  );
  return events(agent, event);
}

/** The agent's `dicom.store` log event, one per C-STORE it answered. */
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
  return events(agent, 'dicom.store') as unknown as StoreEvent[];
}
