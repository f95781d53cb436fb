import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from '../logger.js';
import { readReleaseState, releasePaths, writeReleaseState } from '../upgrade/release-store.js';
import { EXIT_RESTART_INTO_PENDING, SUPERVISOR_FD_ENV } from '../upgrade/upgrader.js';
import { withAllocatorDefaults } from './allocator-env.js';
import { parse, requireString } from './args.js';

/** A release on trial must report healthy within this (FERRY_UPGRADE_TRIAL_SECONDS, default 60). */
function trialMs(): number {
  const s = Number(process.env.FERRY_UPGRADE_TRIAL_SECONDS ?? 60);
  return (Number.isFinite(s) && s > 0 ? s : 60) * 1000;
}
/** A child asked to stop gets this long (open associations finish) before SIGKILL, as systemd would. */
const STOP_GRACE_MS = 30_000;

interface Child {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  healthy: Promise<void>;
}

/**
 * `ferry-agent run --data-dir DIR [start options]`: the supervisor the systemd unit starts. It runs
 * `ferry-agent start` from the release state.json names (else the installed program, itself), and is
 * never replaced by an upgrade. A pending release is on trial: it must reach its control channel with
 * a healthy heartbeat (it says so on file descriptor 3) within a minute; if it exits or stays silent,
 * it is stopped and the previous release started again. Only one agent runs at a time, so the spool
 * lock passes from the old process to the new one, and the spool itself is never touched.
 */
export async function runCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'ae-title': { type: 'string' },
  });
  const dataDir = requireString(values, 'data-dir');
  const log = createLogger('ferry-agent-supervisor');
  let stopping = false;
  let child: Child | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    child?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (;;) {
    const state = await readReleaseState(dataDir);
    const trial = state.pending;
    child = launch(dataDir, trial ?? state.current, args, log);
    if (trial) {
      const outcome = await Promise.race([
        child.healthy.then(() => 'healthy' as const),
        child.exited.then((e) => `exited (${e.signal ?? `code ${e.code}`}) before it was healthy`),
        delay(trialMs()).then(() => `not healthy within ${trialMs() / 1000} s`),
      ]);
      if (outcome === 'healthy') {
        await writeReleaseState(dataDir, { current: trial });
        log.info(
          { event: 'upgrade.confirmed', version: trial, previous: state.current },
          'upgrade confirmed',
        );
        await pruneReleases(dataDir, [trial, state.current]);
      } else {
        await stopChild(child);
        await writeReleaseState(dataDir, {
          ...(state.current ? { current: state.current } : {}),
          failed: { version: trial, reason: outcome, at: new Date().toISOString() },
        });
        await pruneReleases(dataDir, [state.current]);
        log.error(
          {
            event: 'upgrade.rolled_back',
            version: trial,
            reason: outcome,
            current: state.current ?? 'installed',
          },
          'the new release failed its trial; rolled back',
        );
        if (stopping) return;
        continue;
      }
    }
    const exit = await child.exited;
    if (!stopping && exit.code === EXIT_RESTART_INTO_PENDING) continue;
    process.exitCode = exit.code ?? 1;
    return;
  }
}

function launch(dataDir: string, version: string | undefined, args: string[], log: Logger): Child {
  let node = process.execPath;
  let script = process.argv[1] ?? '';
  if (version) {
    const dir = releasePaths(dataDir).dirOf(version);
    if (existsSync(join(dir, 'ferry-agent.mjs'))) {
      node = join(dir, 'node');
      script = join(dir, 'ferry-agent.mjs');
    } else {
      log.error(
        { event: 'upgrade.release_missing', version, dir },
        'release missing; running the installed one',
      );
    }
  }
  const proc = spawn(node, [script, 'start', ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    env: { ...withAllocatorDefaults(process.env), [SUPERVISOR_FD_ENV]: '3' },
  });
  log.info({ event: 'supervisor.started', pid: proc.pid, version: version ?? 'installed' }, 'agent started');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', () => resolve({ code: 1, signal: null }));
  });
  const healthy = new Promise<void>((resolve) => {
    let text = '';
    const pipe = proc.stdio[3];
    pipe?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('healthy\n')) resolve();
    });
    pipe?.on('error', () => {});
  });
  return { process: proc, exited, healthy };
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const t = setTimeout(() => child.process.kill('SIGKILL'), STOP_GRACE_MS);
  await child.exited;
  clearTimeout(t);
}

/** Keeps the releases named (current and the one before it); others, and leftover downloads, go. */
async function pruneReleases(dataDir: string, keep: (string | undefined)[]): Promise<void> {
  const { root } = releasePaths(dataDir);
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (name === 'state.json' || keep.includes(name)) continue;
    await rm(join(root, name), { recursive: true, force: true });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
