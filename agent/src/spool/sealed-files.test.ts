import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealedFiles } from './sealed-files.js';

describe('SealedFiles', () => {
  let dir: string;
  let files: SealedFiles;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-sealed-files-'));
    files = new SealedFiles();
  });
  afterEach(async () => {
    await files.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads ranges by position, concurrently, from one file kept open', async () => {
    const data = randomBytes(300_000);
    const path = join(dir, 'segment');
    await writeFile(path, data);
    const ranges = [
      [0, 10],
      [5, 200_000],
      [299_999, 300_000],
      [123, 4567],
    ] as const;
    const got = await Promise.all(
      ranges.map(async ([start, end]) => {
        const b = Buffer.alloc(end - start);
        await files.read(path, start, b);
        return b;
      }),
    );
    for (const [i, [start, end]] of ranges.entries())
      expect(got[i]!.equals(data.subarray(start, end))).toBe(true);
    // Still open: a read right after the name is gone goes to the same file.
    await unlink(path);
    const again = Buffer.alloc(16);
    await files.read(path, 100, again);
    expect(again.equals(data.subarray(100, 116))).toBe(true);
    // Closed: the name is looked up again.
    await files.close();
    await expect(files.read(path, 0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a read past the end, and does not keep a failed open', async () => {
    const path = join(dir, 'object');
    await expect(files.read(path, 0, Buffer.alloc(4))).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(path, Buffer.from('abcdef'));
    const b = Buffer.alloc(4);
    await files.read(path, 2, b);
    expect(b.toString()).toBe('cdef');
    await expect(files.read(path, 4, Buffer.alloc(4))).rejects.toMatchObject({ code: 'ESHORT' });
  });

  it('keeps a bounded number of idle files open', async () => {
    const paths = Array.from({ length: 12 }, (_, i) => join(dir, `f${i}`));
    for (const p of paths) await writeFile(p, Buffer.from('x'));
    for (const p of paths) await files.read(p, 0, Buffer.alloc(1));
    for (const p of paths) await unlink(p);
    // The oldest were closed to stay under the bound; the newest are still readable.
    await expect(files.read(paths[0]!, 0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'ENOENT' });
    await files.read(paths[11]!, 0, Buffer.alloc(1));
  });
});
