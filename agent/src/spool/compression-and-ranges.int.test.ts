// Compression chosen at receipt (forced on: the spool compresses only for a slow uplink, see
// compression-policy.ts), and what the uploader reads from the spool: byte ranges of sealed
// objects, put events, and purging delivered files before their log segment may go.
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isFerryError, MAX_RAW_FRAME_BYTES } from '@ferry/shared';
import type { JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  openSpooled,
  openTempSpool,
  privateOb,
  removeTempSpool,
  sample,
  silent,
  storedId,
  storeInstance,
} from '../../../testkit/agent/spool.js';
import type { IndexEntry } from './index-entry.js';
import { part10Header } from './part10.js';
import { objectPath } from './paths.js';
import { Spool } from './spool.js';

/** Compressible bytes like 12-bit pixel data: smooth ramps with a little noise. */
function pixels(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = 3;
  for (let i = 0; i + 1 < bytes; i += 2) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b.writeUInt16LE(((i >> 8) & 0xfff) + (x & 7), i);
  }
  return b;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('spool', () => {
  let dir: string;
  let keys: { publicJwk: JWK; privateJwk: JWK };
  let spool: Spool;

  beforeEach(async () => {
    ({ dir, keys, spool } = await openTempSpool({ compression: 'zstd' }));
  });
  afterEach(async () => {
    await removeTempSpool({ dir, spool });
  });

  async function opened(id: string) {
    const { header, parts, plain } = await openSpooled(spool, id, keys.privateJwk);
    return { compression: header.compression, parts, plain };
  }

  describe('compression at receipt', () => {
    it.each([
      ['CT_small.dcm', 'zstd'],
      ['MR_small_implicit.dcm', 'zstd'],
      ['MR_small_bigendian.dcm', 'zstd'],
      ['JPEG2000.dcm', 'none'],
      ['MR_small_RLE.dcm', 'none'],
      ['image_dfl.dcm', 'none'],
    ])('%s is sealed with compression %s, and opens to the received bytes', async (name, expected) => {
      const { dataset, req } = await sample(name);
      const entry = await storeInstance(spool, req, dataset, 333);
      const raw = Buffer.concat([
        part10Header(req.sopClassUid, req.sopInstanceUid, req.transferSyntaxUid),
        dataset,
      ]);
      const o = await opened(entry.id);
      expect(o.compression).toBe(expected);
      expect(o.plain.equals(raw)).toBe(true);
      // The index describes the raw Part-10 bytes, whatever the object holds.
      expect(entry.plainBytes).toBe(raw.length);
      expect(entry.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    });

    it('leaves a native dataset uncompressed in auto mode while the backlog is small', async () => {
      await spool.close();
      spool = await Spool.open(dir, keys.publicJwk, silent);
      const { dataset, req } = await sample('CT_small.dcm');
      const entry = await storeInstance(spool, req, dataset, 333);
      const o = await opened(entry.id);
      expect(o.compression).toBe('none');
      expect(o.plain.subarray(o.plain.length - dataset.length).equals(dataset)).toBe(true);
      expect(spool.stats().compression).toMatchObject({ mode: 'auto', compressing: false });
      expect(spool.stats().pendingBytes).toBe(spool.log.backlogBytes());
    });

    it('leaves a native dataset uncompressed when its first frame does not shrink enough', async () => {
      const { dataset, req } = await sample('CT_small.dcm');
      const entry = await storeInstance(
        spool,
        req,
        Buffer.concat([dataset, privateOb(randomBytes(2 << 20))]),
        65536,
      );
      const o = await opened(entry.id);
      expect(o.compression).toBe('none');
      expect(entry.objectBytes).toBeGreaterThan(entry.plainBytes);
    });

    it('compresses a big native dataset frame by frame, at most 1 MiB of raw bytes each', async () => {
      const { dataset, req } = await sample('CT_small.dcm');
      // One 3 MiB slice among small ones: frames are cut at exactly 1 MiB whatever the slices.
      const big = Buffer.concat([dataset, privateOb(pixels(6 << 20))]);
      const w = spool.begin(req);
      w.write(big.subarray(0, 1000));
      w.write(big.subarray(1000, 1000 + (3 << 20)));
      for (let off = 1000 + (3 << 20); off < big.length; off += 50_000)
        w.write(big.subarray(off, off + 50_000));
      const outcome = await w.end();
      expect(outcome.ok).toBe(true);
      const entry = spool.log.get(storedId(outcome))!;
      const o = await opened(entry.id);
      expect(o.compression).toBe('zstd');
      expect(entry.objectBytes).toBeLessThan(entry.plainBytes / 2);
      expect(o.parts.every((p) => p.length <= MAX_RAW_FRAME_BYTES)).toBe(true);
      // Every frame decompresses on its own to at most 1 MiB; frames are cut by size, not by slice.
      expect(o.parts.length).toBeGreaterThanOrEqual(Math.ceil(entry.plainBytes / MAX_RAW_FRAME_BYTES));
      expect(new Set(o.parts.slice(0, -1).map((p) => p.length)).size).toBe(1);
      expect(o.plain.subarray(o.plain.length - big.length).equals(big)).toBe(true);
    });
  });

  describe('what the uploader reads', () => {
    it('reads any byte range of an inline or a file object', async () => {
      const { dataset, req } = await sample('CT_small.dcm');
      const small = await storeInstance(spool, req, dataset);
      const large = await storeInstance(
        spool,
        req,
        Buffer.concat([dataset, privateOb(randomBytes(3 << 20))]),
        65536,
      );
      expect(small.inline).toBe(true);
      expect(large.inline).toBe(false);
      for (const entry of [small, large]) {
        const whole = await collect(spool.readSealed(entry.id));
        expect(whole.length).toBe(entry.objectBytes);
        for (const [start, end] of [
          [0, 1],
          [0, entry.objectBytes],
          [7, 4099],
          [entry.objectBytes - 10, entry.objectBytes],
        ] as const) {
          expect(
            (await collect(spool.readSealedRange(entry.id, start, end))).equals(whole.subarray(start, end)),
          ).toBe(true);
        }
        expect(() => spool.readSealedRange(entry.id, 0, entry.objectBytes + 1)).toThrow(RangeError);
        expect(() => spool.readSealedRange(entry.id, 5, 5)).toThrow(RangeError);
      }
      let err: unknown;
      try {
        spool.readSealedRange('oNoSuchObject0000', 0, 1);
      } catch (e) {
        err = e;
      }
      expect(isFerryError(err, 'spool.corrupt')).toBe(true);
    });

    it('reads whole objects in one read each, inline or file, and names a missing one', async () => {
      const { dataset, req } = await sample('CT_small.dcm');
      const a = await storeInstance(spool, req, dataset);
      const b = await storeInstance(spool, req, Buffer.concat([dataset, privateOb(Buffer.from('b2'))]));
      const large = await storeInstance(
        spool,
        req,
        Buffer.concat([dataset, privateOb(randomBytes(3 << 20))]),
        65536,
      );
      expect(large.inline).toBe(false);
      const reader = spool.openObjectReader();
      try {
        // Two inline objects from one segment, then a file object.
        for (const entry of [a, b, large]) {
          const got = await reader.read(entry.id);
          expect(got.equals(await collect(spool.readSealed(entry.id)))).toBe(true);
        }
        let err: unknown;
        await reader.read('oNoSuchObject0000').catch((e: unknown) => {
          err = e;
        });
        expect(isFerryError(err, 'spool.corrupt')).toBe(true);
      } finally {
        await reader.close();
      }
      await expect(reader.read(a.id)).rejects.toThrow(/closed/);
      await rm(objectPath(spool.paths, large.id));
      const fresh = spool.openObjectReader();
      let err: unknown;
      await fresh.read(large.id).catch((e: unknown) => {
        err = e;
      });
      await fresh.close();
      expect(isFerryError(err, 'spool.corrupt')).toBe(true);
    });

    it('tells listeners about an entry once its put record is durable', async () => {
      const { dataset, req } = await sample('MR_small.dcm');
      const seen: { id: string; committed: boolean }[] = [];
      const off = spool.log.onPut((e: IndexEntry) =>
        seen.push({ id: e.id, committed: spool.log.isCommitted(e.id) }),
      );
      const entry = await storeInstance(spool, req, dataset);
      off();
      await storeInstance(spool, req, Buffer.concat([dataset, privateOb(Buffer.from('x2'))]));
      expect(seen).toEqual([{ id: entry.id, committed: true }]);
    });

    it('keeps a delivered file object indexed, and its segment, until its local copy is purged', async () => {
      const { dataset, req } = await sample('CT_small.dcm');
      const file = await storeInstance(
        spool,
        req,
        Buffer.concat([dataset, privateOb(randomBytes(2 << 20))]),
        65536,
      );
      expect(file.inline).toBe(false);
      // ~900 KB incompressible inline objects push the log past its 32 MiB rotation point.
      const inline: string[] = [];
      for (let i = 0; i < 40; i++) {
        const e = await storeInstance(
          spool,
          req,
          Buffer.concat([dataset, privateOb(randomBytes(860_000))]),
          65536,
        );
        inline.push(e.id);
      }
      const segments = (await readdir(spool.paths.log)).sort();
      expect(segments.length).toBeGreaterThanOrEqual(2);
      for (const id of [file.id, ...inline]) await spool.log.setState(id, 'delivered');
      expect(spool.log.get(file.id)?.deliveredAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      // Everything in segment 1 is delivered, but the file object still has its local copy.
      expect((await readdir(spool.paths.log)).sort()).toEqual(segments);
      await spool.close();
      spool = await Spool.open(dir, keys.publicJwk, silent, { compression: 'zstd' });
      expect(spool.log.get(file.id)).toMatchObject({ state: 'delivered', inline: false });
      expect(await readdir(spool.paths.objects)).toEqual([`${file.id}.fobj`]);
      await rm(objectPath(spool.paths, file.id));
      await spool.log.markPurged(file.id);
      expect(await readdir(spool.paths.log)).not.toContain(segments[0]);
      expect(spool.log.get(file.id)).toBeUndefined();
    }, 120_000);
  });
});
