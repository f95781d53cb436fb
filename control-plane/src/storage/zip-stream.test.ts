import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readZip } from '../../../testkit/control-plane/zip-reader.js';
import { zipStream } from './zip-stream.js';

const MIB = 1 << 20;

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function* chunks(bytes: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('zipStream', () => {
  it('writes a stored zip whose entries are the sources, in order', async () => {
    const files = [
      { name: '1/1.dcm', bytes: randomBytes(3 * MIB + 11) },
      { name: '1/2.dcm', bytes: Buffer.alloc(0) },
      { name: '2/1.dcm', bytes: randomBytes(1000) },
    ];
    const zip = await collect(zipStream(files.map((f) => ({ name: f.name, open: () => chunks(f.bytes) }))));
    const { entries } = readZip(zip);
    expect(entries.map((e) => e.name)).toEqual(files.map((f) => f.name));
    entries.forEach((e, i) => {
      expect(e.method).toBe(0);
      expect(e.bytes.equals(files[i]!.bytes)).toBe(true);
    });
    if (existsSync('/usr/bin/unzip')) {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-zip-'));
      try {
        await writeFile(join(dir, 'a.zip'), zip);
        const listing = execFileSync('unzip', ['-l', join(dir, 'a.zip')]).toString();
        for (const f of files) expect(listing).toContain(f.name);
        expect(execFileSync('unzip', ['-p', join(dir, 'a.zip'), '2/1.dcm']).equals(files[2]!.bytes)).toBe(
          true,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it('writes an empty archive for no entries', async () => {
    expect(readZip(await collect(zipStream([]))).entries).toEqual([]);
  });

  it('opens each entry only when the archive reaches it', async () => {
    const opened: string[] = [];
    const seen: number[] = [];
    const entries = ['a', 'b', 'c'].map((name) => ({
      name,
      open: () => {
        opened.push(name);
        return chunks(Buffer.alloc(2 * MIB, name));
      },
    }));
    let bytes = 0;
    for await (const c of zipStream(entries)) {
      bytes += c.length;
      seen.push(opened.length);
    }
    // Entry c was not opened while a's bytes were still coming.
    expect(seen[0]).toBe(1);
    expect(opened).toEqual(['a', 'b', 'c']);
    expect(bytes).toBeGreaterThan(6 * MIB);
  });

  it('fails the stream when an entry fails midway', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      throw new Error('frame 3 failed authentication');
    }
    const entries = [
      { name: 'ok', open: () => chunks(Buffer.alloc(10)) },
      { name: 'bad', open: broken },
      { name: 'never', open: () => chunks(Buffer.alloc(10)) },
    ];
    await expect(collect(zipStream(entries))).rejects.toThrow(/frame 3 failed/);
  });

  it('stops reading the current entry when the consumer stops', async () => {
    let produced = 0;
    let closed = false;
    async function* endless(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          produced++;
          yield Buffer.alloc(64 * 1024);
        }
      } finally {
        closed = true;
      }
    }
    let got = 0;
    for await (const c of zipStream([{ name: 'big', open: endless }])) {
      got += c.length;
      if (got > 4 * MIB) break;
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(produced).toBeLessThan(200);
  });
});
