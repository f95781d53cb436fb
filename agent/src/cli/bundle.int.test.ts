// The release bundle (scripts/bundle.mjs) and the tsc build can code images: each finds its JPEG-LS
// worker module and CharLS's .wasm where it ships them, proven by `doctor`'s image codec check run
// from the release directory on the Node it carries, away from any node_modules.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const agentDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `doctor`'s output for a data directory with nothing in it: its image codec line is what counts. */
async function doctorOut(node: string, program: string, cwd: string, dataDir: string): Promise<string> {
  try {
    await run(node, [program, 'doctor', '--data-dir', dataDir], { cwd, timeout: 60_000 });
    throw new Error('doctor passed without an agent.json');
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    if (out === undefined) throw err;
    return out;
  }
}

const CODED =
  /^PASS image codec: JPEG-LS coded and verified a 256 KiB test band on a worker thread in \d+ ms$/m;

describe('image coding in the shipped agent', () => {
  let tmp: string;
  let release: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ferry-bundle-codec-'));
    const { stdout } = await run(
      process.execPath,
      [join(agentDir, 'scripts', 'bundle.mjs'), '--out', join(tmp, 'build'), '--no-tar'],
      { timeout: 120_000 },
    );
    release = stdout.split('\n')[1]!.trim();
  }, 180_000);
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('the release bundle codes a band with the worker and the .wasm beside it, and says so when they are not', async () => {
    const node = join(release, 'node');
    const program = join(release, 'ferry-agent.mjs');
    expect(await doctorOut(node, program, tmp, join(tmp, 'empty'))).toMatch(CODED);
    // Without its .wasm the worker codes nothing: the check reads the copy beside the bundle.
    await rm(join(release, 'charlswasm.wasm'));
    expect(await doctorOut(node, program, tmp, join(tmp, 'empty'))).toMatch(
      /^WARN image codec: the JPEG-LS worker could not code a test band .* sent zstd-compressed instead/m,
    );
  });

  it('the tsc build (bin/ferry-agent.js) codes a band with its compiled worker', async () => {
    const out = await doctorOut(
      process.execPath,
      join(agentDir, 'bin', 'ferry-agent.js'),
      tmp,
      join(tmp, 'empty'),
    );
    expect(out).toMatch(CODED);
  });
});
