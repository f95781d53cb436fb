import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/harness/dcmtk.js';
import { formatResult, message, runDoctor } from './doctor.js';

/** Every errno-style code (ENOENT, ECONNREFUSED…) in `line` that appears more than once. */
function repeatedCodes(line: string): string[] {
  const counts = new Map<string, number>();
  for (const code of line.match(/\bE[A-Z]{3,}\b/g) ?? []) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([code]) => code);
}

describe('doctor findings name each error code once', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferry-doctor-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('on a data directory that does not exist: both findings, ENOENT once in each', async () => {
    const dir = join(root, 'no-such-dir');
    const lines = (await runDoctor(dir, () => undefined)).map(formatResult);
    expect(lines.pop()).toMatch(
      /^PASS image codec: JPEG-LS coded and verified a 256 KiB test band on a worker thread in \d+ ms$/,
    );
    expect(lines).toEqual([
      `FAIL config: ${dir}/agent.json does not exist\n  fix: correct ${dir}/agent.json (the field is named above), or enroll again to write a fresh one`,
      `FAIL disk: cannot read ${dir}: ENOENT: no such file or directory, statfs '${dir}'\n  fix: check that the data directory exists`,
    ]);
    for (const line of lines) expect(repeatedCodes(line), line).toEqual([]);
  });

  it('puts the code in front only when the message does not already name it', async () => {
    const port = await freePort();
    const refused = await new Promise<Error>((resolve) =>
      connect(port, '127.0.0.1').once('error', (err) => resolve(err)),
    );
    expect(message(refused)).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    const bare = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(message(bare)).toBe('ECONNRESET: socket hang up');
    expect(message(new FerryError('control.unreachable', 'cannot reach it'))).toBe('cannot reach it');
  });
});
