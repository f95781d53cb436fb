import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isFerryError } from '@ferry/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { releaseBuffers } from './buffer-release.js';
import { SpillFile, SYNC_EVERY_BYTES } from './spill-file.js';

const run = promisify(execFile);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spill-file-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Buffers of their own ArrayBuffer (as sealed frames are), `count` of `size` bytes. */
function frames(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => Buffer.from(new Uint8Array(randomBytes(size))));
}

describe('SpillFile', () => {
  it('writes frames in order across several background syncs, exactly, and releases each once written', async () => {
    const path = join(dir, 'a.part');
    const file = await SpillFile.create(path);
    // Uneven sizes, enough of them to cross the sync interval twice.
    const written: Buffer[] = [];
    const all: Buffer[] = [];
    let total = 0;
    for (let i = 0; total < 2 * SYNC_EVERY_BYTES + 12345; i++) {
      const batch = frames(1 + (i % 3), 700_000 + i * 13);
      written.push(...batch.map((b) => Buffer.from(b)));
      all.push(...batch);
      total += batch.reduce((n, b) => n + b.length, 0);
      await file.write(batch);
    }
    await file.finish();
    // Compared with equals(): toEqual walks 32 MiB byte by byte.
    expect((await readFile(path)).equals(Buffer.concat(written))).toBe(true);
    // The file owned them: their memory was given back, not left for the collector.
    expect(all.every((b) => b.length === 0)).toBe(true);
  });

  it('refuses a second file at the same path', async () => {
    const path = join(dir, 'b.part');
    const file = await SpillFile.create(path);
    await file.discard();
    await expect(SpillFile.create(path)).rejects.toMatchObject({ code: 'spool.io_error' });
  });

  it('reports a full disk as spool.out_of_space, from write() or finish()', async () => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    try {
      const file = await SpillFile.create(join(mnt, 'c.part'));
      let failure: unknown;
      try {
        for (let i = 0; i < 8; i++) await file.write(frames(1, 512 << 10));
        await file.finish();
      } catch (err) {
        failure = err;
        await file.discard();
      }
      expect(isFerryError(failure) && failure.code).toBe('spool.out_of_space');
    } finally {
      await run('umount', [mnt]);
    }
  });
});

describe('releaseBuffers', () => {
  it('frees a buffer that is its whole ArrayBuffer, and leaves slices and pooled buffers alone', () => {
    const whole = Buffer.from(new Uint8Array(64 << 10).fill(7));
    const parent = Buffer.from(new Uint8Array(8192).fill(1));
    const slice = parent.subarray(0, 512);
    const pooled = Buffer.from('small, from the shared pool');
    const before = Buffer.from(pooled);
    releaseBuffers([whole, slice, pooled, whole]);
    expect(whole.length).toBe(0);
    expect(slice.length).toBe(512);
    expect(parent.length).toBe(8192);
    expect(pooled).toEqual(before);
  });
});
