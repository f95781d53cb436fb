// Runs the real agent as a child process (the built bin), as a hospital would run it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateRecipientKeyPair } from '@ferry/shared';
import type { JWK } from 'jose';
import { repoRoot, workDir } from './corpus.js';
import { freePort } from './dcmtk.js';

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
  await mkdir(dataDir, { recursive: true });
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
  const child = spawn(
    process.execPath,
    [AGENT_BIN, 'start', '--data-dir', opts.dataDir, ...(opts.args ?? [])],
    {
      env: { ...process.env, FERRY_LOG_LEVEL: 'info', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not become ready:\n${out}`)), 20_000);
    const check = () => {
      const line = out.split('\n').find((l) => l.includes('"event":"agent.ready"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before ready:\n${out}`));
    });
  });
  const logLines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    port,
    pid: child.pid!,
    dataDir: opts.dataDir,
    child,
    output: () => out,
    logLines,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill9() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async peakRss() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
      return kb * 1024;
    },
  };
}

/** Runs a one-shot agent CLI command (status, export) and returns its output. */
export function runAgentCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
