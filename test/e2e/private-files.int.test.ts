// Nothing on disk is readable by other local users (issue 13, section 2): the real control plane
// (embedded PGlite, fs blobs, generated key file) and the real agent, started as a hospital would,
// leave no file or directory that group or others can read, write or enter; and both refuse a data
// directory that is open to them, naming the chmod that fixes it.
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeScratch, runAgentCli, scratch } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { CONTROL_PLANE_BIN } from '../harness/control-plane.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { freePort, parseStorescuOutput, storescu } from '../harness/dcmtk.js';

/** Every path under `dir` (itself included) whose mode lets group or others in, with that mode. */
async function openToOthers(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) found.push(`${path} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return found;
}

function runControlPlane(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CONTROL_PLANE_BIN, 'serve'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('private files on disk', () => {
  let cloud: Cloud;

  beforeAll(async () => {
    // What a real first start leaves on disk, database files included (not the tests' seeded copy).
    cloud = await startCloud({ name: 'private-files', freshDatabase: true });
  }, 120_000);
  afterAll(async () => {
    await cloud?.close();
    await removeScratch(cloud?.root);
  });

  it('after start and a received study, no file of the control plane or the agent is open to others', async () => {
    const files = (await corpusFiles(await smallCorpus())).slice(0, 3);
    const sent = await storescu({ port: cloud.agent.port, calledAe: cloud.aeTitle, files, verbose: true });
    expect(parseStorescuOutput(sent.stderr).succeeded).toBe(files.length);
    const cpDir = join(cloud.root, 'control-plane');
    // What the issue names: the embedded database, the key file and its directory, the blobs, the spool.
    for (const sub of ['db', 'keys', 'blobs'])
      expect((await readdir(join(cpDir, sub))).length).toBeGreaterThan(0);
    for (const sub of ['spool', 'identity'])
      expect((await readdir(join(cloud.agentDataDir, sub))).length).toBeGreaterThan(0);
    expect(await openToOthers(cpDir)).toEqual([]);
    expect(await openToOthers(cloud.agentDataDir)).toEqual([]);
  }, 60_000);

  it('the control plane refuses a data directory others can read, naming it and the chmod', async () => {
    const dir = join(await scratch('private-cp'), 'data');
    await mkdir(dir);
    await chmod(dir, 0o755);
    const r = await runControlPlane({
      FERRY_DATA_DIR: dir,
      FERRY_HTTP_HOST: '127.0.0.1',
      FERRY_HTTP_PORT: String(await freePort()),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('config.data_dir_exposed');
    expect(r.stderr).toContain(`chmod 700 ${dir}`);
    // Nothing was written into it.
    expect(await readdir(dir)).toEqual([]);
  }, 40_000);

  it('the agent refuses a data directory others can read, naming it and the chmod', async () => {
    const dir = join(await scratch('private-agent'), 'agent');
    await mkdir(dir);
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey: {} }));
    await chmod(dir, 0o750);
    const r = await runAgentCli(['start', '--data-dir', dir], { timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('config.data_dir_exposed');
    expect(r.stderr).toContain(`chmod 700 ${dir}`);
  }, 30_000);
});
