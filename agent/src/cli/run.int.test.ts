import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const AGENT_BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'ferry-agent.js');

function withoutArenaMax(): NodeJS.ProcessEnv {
  const { MALLOC_ARENA_MAX: _, ...env } = process.env;
  return env;
}

/**
 * The supervisor (`ferry-agent run`) with stand-in releases: small scripts that say healthy on the
 * supervisor's descriptor and wait, or say nothing. The real releases' path is in test/e2e/upgrade.
 */
describe('ferry-agent run: a release on trial', () => {
  let dir: string;
  let sup: ChildProcess | undefined;
  let out = '';

  async function release(dataDir: string, version: string, body: string): Promise<void> {
    const d = join(dataDir, 'releases', version);
    await mkdir(d, { recursive: true });
    await symlink(process.execPath, join(d, 'node'));
    await writeFile(join(d, 'ferry-agent.mjs'), body);
  }
  const healthy = `import { writeSync } from 'node:fs';
console.log(JSON.stringify({ event: 'stand-in.started', version: process.argv[1], args: process.argv.slice(2), arenaMax: process.env.MALLOC_ARENA_MAX ?? null }));
writeSync(Number(process.env.FERRY_SUPERVISOR_FD), 'healthy\\n');
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;
  const silent = `process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-run-'));
  });
  afterAll(async () => {
    if (sup && sup.exitCode === null) sup.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('rolls back a release that never says healthy, starts the previous one, and stops with it', async () => {
    const dataDir = join(dir, 'data');
    await release(dataDir, '1.0.0', healthy);
    await release(dataDir, '2.0.0', silent);
    await writeFile(
      join(dataDir, 'releases', 'state.json'),
      JSON.stringify({ current: '1.0.0', pending: '2.0.0' }),
    );
    sup = spawn(process.execPath, [AGENT_BIN, 'run', '--data-dir', dataDir, '--port', '4999'], {
      env: { ...withoutArenaMax(), FERRY_UPGRADE_TRIAL_SECONDS: '1', FERRY_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sup.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    sup.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const deadline = Date.now() + 15_000;
    // The supervisor's own lines leave in batches (up to 100 ms late), the stand-in's at once.
    while (!out.includes('stand-in.started') || !out.includes('"event":"upgrade.rolled_back"')) {
      if (Date.now() > deadline || sup.exitCode !== null) throw new Error(`no rollback:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(out).toContain('"event":"upgrade.rolled_back"');
    expect(out).toContain('not healthy within 1 s');
    const state = JSON.parse(await readFile(join(dataDir, 'releases', 'state.json'), 'utf8'));
    expect(state).toMatchObject({
      current: '1.0.0',
      failed: { version: '2.0.0', reason: 'not healthy within 1 s' },
    });
    expect(state.pending).toBeUndefined();
    // The previous release runs `start` with the supervisor's own options.
    const started = JSON.parse(out.split('\n').find((l) => l.includes('stand-in.started')) ?? '{}');
    expect(started.args).toEqual(['start', '--data-dir', dataDir, '--port', '4999']);
    // With glibc's arenas capped (allocator-env.ts), set by the supervisor when the operator did not.
    expect(started.arenaMax).toBe('2');
    const exited = new Promise<number | null>((r) => sup?.once('exit', (code) => r(code)));
    sup.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
