// Image objects (issue 19): with the coding choice 'image', native Pixel Data is sealed as JPEG-LS
// bands (CharLS in worker threads) and everything else as zstd; every object opens to the exact
// bytes received. Which codec each frame names is read back from the sealed object itself.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FrameCodecName, type PixelBand, TS } from '@ferry/shared';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realDataFiles } from '../../../test/harness/real-data.js';
import {
  asReceived,
  openSpooled,
  openTempSpool,
  type ReceivedInstance,
  removeTempSpool,
  SAMPLES_DIR,
  storeInstance,
  type TempSpool,
} from '../../../testkit/agent/spool.js';
import { type BandCodec, type BandCoding, ImageCodecPool } from './image-codec-pool.js';
import { MAX_IN_FLIGHT } from './image-framing.js';
import { part10Header } from './part10.js';
import type { SpoolOptions } from './spool.js';

/**
 * A file as the receiver hands it over. The SOP UIDs come from the dataset (some samples' File Meta
 * Information names others); the three samples without File Meta Information get their syntax here.
 */
function received(bytes: Buffer, name: string): ReceivedInstance {
  const hasMeta = bytes.toString('latin1', 128, 132) === 'DICM';
  const base: ReceivedInstance = hasMeta
    ? asReceived(bytes, name)
    : {
        dataset: bytes,
        req: {
          associationId: 'test',
          callingAeTitle: 'MODALITY',
          calledAeTitle: 'GATEWAY',
          peer: '127.0.0.1:1',
          sopClassUid: '',
          sopInstanceUid: '',
          transferSyntaxUid: name.includes('BigEnd')
            ? TS.ExplicitVRBigEndian
            : name.includes('LitEnd')
              ? TS.ExplicitVRLittleEndian
              : TS.ImplicitVRLittleEndian,
          messageId: 1,
        },
      };
  const ts = base.req.transferSyntaxUid;
  if (ts !== TS.DeflatedExplicitVRLittleEndian) {
    let ds: dicomParser.DataSet;
    try {
      ds = dicomParser.parseDicom(base.dataset, { TransferSyntaxUID: ts, untilTag: 'x00080018' });
    } catch (err) {
      // A sample that is malformed further on: what was parsed before is enough.
      ds = (err as { dataSet: dicomParser.DataSet }).dataSet;
    }
    base.req.sopClassUid = ds.string('x00080016') ?? '';
    base.req.sopInstanceUid = ds.string('x00080018') ?? '';
  }
  return base;
}

function rawOf({ dataset, req }: ReceivedInstance): Buffer {
  return Buffer.concat([part10Header(req.sopClassUid, req.sopInstanceUid, req.transferSyntaxUid), dataset]);
}

function count(codecs: FrameCodecName[], c: FrameCodecName): number {
  return codecs.filter((x) => x === c).length;
}

/**
 * pydicom samples whose native Pixel Data is coded as JPEG-LS, with their number of bands: two for
 * a frame of 128 rows or more (pixel-bands.ts MIN_BANDS_PER_FRAME), one for the 64-row MR.
 */
const JPEGLS_SAMPLES: Record<string, number> = {
  'CT_small.dcm': 2,
  'MR_small.dcm': 1,
  'MR_small_bigendian.dcm': 1,
  'MR_small_expb.dcm': 1,
  'MR_small_implicit.dcm': 1,
  'MR_small_padded.dcm': 1,
  // 8-bit RGB, colour by pixel, implicit VR.
  'SC_rgb_jpeg_dcmd.dcm': 2,
};
/**
 * Native samples sealed as zstd: no Pixel Data (SR, RT plan and structures, waveform, the NoMeta
 * pair), 32-bit (RT dose), 1-bit (liver), YBR_FULL_422, 8-bit big endian, or a 3×3 image.
 */
const NATIVE_ZSTD = /^(ExplVR_|SC_rgb_small_odd\.|SC_ybr_full_422|liver_|reportsi|rt|test-SR|waveform|badVR)/;

describe('image objects', () => {
  let t: TempSpool;

  async function storeAndOpen(inst: ReceivedInstance) {
    const entry = await storeInstance(t.spool, inst.req, inst.dataset, 16384);
    const o = await openSpooled(t.spool, entry.id, t.keys.privateJwk);
    const raw = rawOf(inst);
    expect(o.plain.equals(raw)).toBe(true);
    expect(entry.plainBytes).toBe(raw.length);
    expect(entry.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    return { entry, o };
  }

  describe('with the worker pool', () => {
    beforeAll(async () => {
      t = await openTempSpool({ compression: 'image' });
    });
    afterAll(async () => {
      await removeTempSpool(t);
    });

    it('seals every pydicom sample byte for byte: JPEG-LS for native 8/16-bit pixels, zstd around them and for the rest', async () => {
      const names = (await readdir(SAMPLES_DIR)).filter((f) => f.endsWith('.dcm'));
      expect(names.length).toBe(56);
      for (const name of names) {
        const inst = received(await readFile(join(SAMPLES_DIR, name)), name);
        const { entry, o } = await storeAndOpen(inst);
        const bands = JPEGLS_SAMPLES[name];
        const what = `${name}: ${o.header.compression} ${o.codecs.join(',')}`;
        if (bands !== undefined) {
          expect(o.header.compression, what).toBe('image');
          expect(count(o.codecs, 'jpegls'), what).toBe(bands);
          expect(
            o.codecs.every((c) => c === 'jpegls' || c === 'zstd'),
            what,
          ).toBe(true);
          expect(entry.coding).toMatchObject({ kind: 'image', jpegLsFrames: bands, fallbackFrames: 0 });
          expect(entry.coding?.codecMs).toBeGreaterThan(0);
        } else if (NATIVE_ZSTD.test(name)) {
          expect(o.header.compression, what).toBe('zstd');
          expect(entry.coding).toEqual({ kind: 'zstd' });
        } else {
          // Encapsulated (JPEG, JPEG-LS, JPEG 2000, RLE) and deflated datasets travel as they are.
          expect(inst.req.transferSyntaxUid).not.toMatch(/^1\.2\.840\.10008\.1\.2(\.1|\.2)?$/);
          expect(o.header.compression, what).toBe('none');
        }
      }
    }, 120_000);

    it('seals every real CT, MR and CR image with its pixels as JPEG-LS, at 3:1 or better on CT', async () => {
      const before = t.spool.codingStats();
      const files = realDataFiles();
      expect(files.length).toBeGreaterThanOrEqual(37);
      for (const file of files) {
        const inst = received(await readFile(file), file);
        const { entry, o } = await storeAndOpen(inst);
        const what = `${file}: ${o.codecs.join(',')}`;
        expect(o.header.compression, what).toBe('image');
        // Two bands a frame, or one per MiB of it: the 1368×1350 DWI mosaics have four.
        const bands = file.includes('dwi-mosaic') ? 4 : 2;
        expect(count(o.codecs, 'jpegls'), what).toBe(bands);
        expect(entry.coding).toMatchObject({ kind: 'image', jpegLsFrames: bands, fallbackFrames: 0 });
        if (entry.modality === 'CT') expect(entry.plainBytes / entry.objectBytes).toBeGreaterThan(3);
      }
      // The pydicom samples went first: the counters grew by the real images alone.
      const after = t.spool.codingStats();
      const grown = (m: string, k: 'instances' | 'jpeglsFrames' | 'rawBytes' | 'sealedBytes') =>
        (after[m]?.[k] ?? 0) - (before[m]?.[k] ?? 0);
      const cts = realDataFiles((f) => f.modality === 'CT').length;
      expect(cts).toBeGreaterThanOrEqual(5);
      expect(grown('CT', 'instances')).toBe(cts);
      expect(grown('CT', 'jpeglsFrames')).toBe(2 * cts);
      expect(grown('MR', 'jpeglsFrames')).toBeGreaterThanOrEqual(30);
      expect(after.CR).toMatchObject({ instances: 1, jpeglsFrames: 2, fallbackFrames: 0 });
      expect(grown('CT', 'rawBytes') / grown('CT', 'sealedBytes')).toBeGreaterThan(3);
      for (const m of Object.values(after)) expect(m.fallbackFrames).toBe(0);
    }, 120_000);
  });

  describe('whatever the slices', () => {
    it.each([7, 4099, 1 << 20])('cuts the same bands from slices of %i bytes', async (sliceBytes) => {
      // A spool of its own: the same bytes again would be a duplicate, not a new object.
      t = await openTempSpool({ compression: 'image' });
      try {
        for (const [file, bands] of [
          [realDataFiles((f) => f.modality === 'CT')[0]!, 2],
          [join(SAMPLES_DIR, 'SC_rgb_jpeg_dcmd.dcm'), JPEGLS_SAMPLES['SC_rgb_jpeg_dcmd.dcm']!],
        ] as const) {
          const inst = received(await readFile(file), file);
          const entry = await storeInstance(t.spool, inst.req, inst.dataset, sliceBytes);
          const o = await openSpooled(t.spool, entry.id, t.keys.privateJwk);
          expect(o.plain.equals(rawOf(inst))).toBe(true);
          expect(count(o.codecs, 'jpegls')).toBe(bands);
        }
      } finally {
        await removeTempSpool(t);
      }
    });
  });

  it('seals a dataset that ends inside a band as zstd from there, byte for byte', async () => {
    // A CT slice cut 1000 bytes short: its first band is whole and goes as JPEG-LS, the rest as zstd.
    t = await openTempSpool({ compression: 'image' });
    try {
      const whole = received(await readFile(realDataFiles((f) => f.modality === 'CT')[0]!), 'ct');
      const inst = { ...whole, dataset: whole.dataset.subarray(0, whole.dataset.length - 1000) };
      const { entry, o } = await storeAndOpen(inst);
      expect(o.header.compression).toBe('image');
      expect(count(o.codecs, 'jpegls')).toBe(1);
      expect(entry.coding).toMatchObject({ kind: 'image', jpegLsFrames: 1, fallbackFrames: 0 });
    } finally {
      await removeTempSpool(t);
    }
  });

  describe('when the codec gives no frame', () => {
    async function withCodec(imageCodec: BandCodec, fn: () => Promise<void>, opts: SpoolOptions = {}) {
      t = await openTempSpool({ compression: 'image', imageCodec, ...opts });
      try {
        await fn();
      } finally {
        await removeTempSpool(t);
      }
    }
    const ct = () => readFile(realDataFiles((f) => f.modality === 'CT')[0]!);

    it('seals a band whose verification failed as zstd', async () => {
      const refusing: BandCodec = { encode: async () => ({ frame: undefined, ms: 3 }) };
      await withCodec(refusing, async () => {
        const { entry, o } = await storeAndOpen(received(await ct(), 'ct'));
        expect(o.header.compression).toBe('image');
        expect(count(o.codecs, 'jpegls')).toBe(0);
        expect(count(o.codecs, 'zstd')).toBeGreaterThanOrEqual(2);
        expect(entry.coding).toEqual({ kind: 'image', jpegLsFrames: 0, fallbackFrames: 2, codecMs: 6 });
        expect(t.spool.codingStats().CT).toMatchObject({ fallbackFrames: 2, jpeglsFrames: 0, codecMs: 6 });
      });
    });

    it('seals as zstd the band of a worker that crashed', async () => {
      // A worker that dies on the band it is given.
      const crashing = new URL(
        `data:text/javascript,${encodeURIComponent(
          "import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => process.exit(7));",
        )}`,
      );
      const pool = new ImageCodecPool({ size: 1, workerUrl: crashing });
      await withCodec(pool, async () => {
        const { entry, o } = await storeAndOpen(received(await ct(), 'ct'));
        expect(o.header.compression).toBe('image');
        expect(count(o.codecs, 'jpegls')).toBe(0);
        expect(entry.coding).toMatchObject({ kind: 'image', jpegLsFrames: 0, fallbackFrames: 2 });
      });
      await pool.close();
    });

    it('keeps at most MAX_IN_FLIGHT bands coding per object, and pauses the sender meanwhile', async () => {
      let coding = 0;
      let most = 0;
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const slow: BandCodec = {
        async encode(_raw: Buffer, _band: PixelBand): Promise<BandCoding> {
          coding++;
          most = Math.max(most, coding);
          await gate;
          coding--;
          return { frame: undefined, ms: 1 };
        },
      };
      await withCodec(slow, async () => {
        const inst = multiFrame(24);
        const w = t.spool.begin(inst.req);
        let paused = false;
        for (let off = 0; off < inst.dataset.length; off += 65536)
          if (!w.write(inst.dataset.subarray(off, off + 65536))) paused = true;
        const ended = w.end();
        await new Promise((r) => setTimeout(r, 200));
        expect(most).toBe(MAX_IN_FLIGHT);
        expect(paused).toBe(true);
        release();
        const outcome = await ended;
        if (!outcome.ok) throw new Error(outcome.message);
        const entry = t.spool.entry(outcome.objectId)!;
        // Two bands a 512-row frame.
        expect(entry.coding).toMatchObject({ kind: 'image', jpegLsFrames: 0, fallbackFrames: 48 });
        const o = await openSpooled(t.spool, entry.id, t.keys.privateJwk);
        expect(o.plain.equals(rawOf(inst))).toBe(true);
      });
    });
  });
});

/** An explicit VR little endian multi-frame dataset of `frames` 512×512 16-bit frames (one band each). */
function multiFrame(frames: number): ReceivedInstance {
  const el = (group: number, element: number, vr: string, value: Buffer): Buffer => {
    const long = vr === 'OW' || vr === 'OB';
    const head = Buffer.alloc(long ? 12 : 8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
    head.write(vr, 4, 'latin1');
    if (long) head.writeUInt32LE(value.length, 8);
    else head.writeUInt16LE(value.length, 6);
    return Buffer.concat([head, value]);
  };
  const us = (v: number) => Buffer.from([v & 0xff, v >> 8]);
  const text = (s: string) => Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1');
  const uid = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
  const sopClassUid = '1.2.840.10008.5.1.4.1.1.2.1';
  const sopInstanceUid = '1.2.3.4.5.6.7.8.9';
  const pixels = Buffer.alloc(frames * 512 * 512 * 2);
  for (let i = 0; i < pixels.length; i += 2) pixels.writeUInt16LE((i >> 4) & 0x3ff, i);
  const dataset = Buffer.concat([
    el(0x0008, 0x0016, 'UI', uid(sopClassUid)),
    el(0x0008, 0x0018, 'UI', uid(sopInstanceUid)),
    el(0x0008, 0x0060, 'CS', text('CT')),
    el(0x0028, 0x0002, 'US', us(1)),
    el(0x0028, 0x0004, 'CS', text('MONOCHROME2')),
    el(0x0028, 0x0008, 'IS', text(String(frames))),
    el(0x0028, 0x0010, 'US', us(512)),
    el(0x0028, 0x0011, 'US', us(512)),
    el(0x0028, 0x0100, 'US', us(16)),
    el(0x0028, 0x0103, 'US', us(0)),
    el(0x7fe0, 0x0010, 'OW', pixels),
  ]);
  return {
    dataset,
    req: {
      associationId: 'test',
      callingAeTitle: 'MODALITY',
      calledAeTitle: 'GATEWAY',
      peer: '127.0.0.1:1',
      sopClassUid,
      sopInstanceUid,
      transferSyntaxUid: TS.ExplicitVRLittleEndian,
      messageId: 1,
    },
  };
}
