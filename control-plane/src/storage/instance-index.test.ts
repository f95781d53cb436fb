import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { generateRecipientKeyPair } from '@ferry/shared';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dcmjsFrames,
  MULTI_FRAME_BYTES,
  nativeMultiFrame,
} from '../../../testkit/control-plane/dcmjs-frames.js';
import { readOnlyStore } from '../../../testkit/control-plane/read-only-store.js';
import { DICOM_SAMPLES_DIR, readSample, sealTestObject } from '../../../testkit/control-plane/seal-object.js';
import { arrayBufferOf, dcmjs } from '../dicom/dcmjs.js';
import { type DicomJson, parseDicomHeader } from '../dicom/dicom-json.js';
import type { BlobStore } from './blob-store.js';
import { clearInstanceIndexes, instanceIndex, readBulkValue, readFrame } from './instance-index.js';

/** A read-only store of whole objects in memory that serves ranges and counts the bytes it served. */
class CountingStore {
  readonly objects = new Map<string, Buffer>();
  bytesRead = 0;
  /** While set, a whole-object read stops after this many bytes until `release()`. */
  holdAfter: number | undefined;
  private held: (() => void)[] = [];
  readonly store: BlobStore;
  release(): void {
    this.holdAfter = undefined;
    for (const go of this.held.splice(0)) go();
  }
  constructor() {
    this.store = readOnlyStore(async (key, range) => {
      const all = this.objects.get(key);
      if (!all) throw new Error(`no object ${key}`);
      const bytes = range ? all.subarray(range.start, range.end + 1) : all;
      this.bytesRead += bytes.length;
      // Delivered in 64 KiB reads, as a file stream would.
      const holding = (at: number) => !range && this.holdAfter !== undefined && at >= this.holdAfter;
      const wait = () => new Promise<void>((go) => this.held.push(go));
      return Readable.from(
        (async function* () {
          for (let at = 0; at < bytes.length; at += 65536) {
            if (holding(at)) await wait();
            yield bytes.subarray(at, at + 65536);
          }
        })(),
      );
    });
  }
}

/** The paths of a stored header's BulkDataURI placeholders, sequences included. */
function placeholderPaths(dataset: DicomJson): string[] {
  return Object.values(dataset).flatMap((el) => {
    if (el.BulkDataURI) return [el.BulkDataURI];
    if (el.vr !== 'SQ') return [];
    return (el.Value ?? []).flatMap((item) => placeholderPaths(item as DicomJson));
  });
}

describe('instance index (random access into sealed instances)', () => {
  let keys: { publicJwk: JWK; privateJwk: JWK };
  const counting = new CountingStore();
  const deps = () => ({ blobStore: counting.store, recipientPrivateKeys: [keys.privateJwk] });

  beforeAll(async () => {
    keys = await generateRecipientKeyPair();
  });

  /** Seals `part10` in small frames (so values straddle them) and stores it. */
  async function stored(part10: Buffer, frameBytes = 4096) {
    const sealed = await sealTestObject({ recipientPublicKey: keys.publicJwk, part10, frameBytes });
    const blobKey = `o/${sealed.objectId}.fobj`;
    counting.objects.set(blobKey, sealed.bytes);
    return { ref: { objectId: sealed.objectId, blobKey }, sealed };
  }

  it('gives every frame of native, big endian, implicit, deflated and encapsulated samples', async () => {
    const cases: { sample: string; frames: number; sameAs?: string; native?: number }[] = [
      { sample: 'CT_small.dcm', frames: 1, native: 128 * 128 * 2 },
      { sample: 'MR_small_implicit.dcm', frames: 1, native: 64 * 64 * 2 },
      { sample: 'rtdose.dcm', frames: 15, native: 10 * 10 * 4 },
      { sample: 'SC_ybr_full_422_uncompressed.dcm', frames: 1, native: 20000 },
      { sample: 'image_dfl.dcm', frames: 1, native: 262144 },
      { sample: 'liver_1frame.dcm', frames: 1, native: 32768 },
      // Big endian answers little endian: the same pixels as the little endian twin.
      { sample: 'MR_small_bigendian.dcm', frames: 1, sameAs: 'MR_small.dcm', native: 64 * 64 * 2 },
      { sample: 'rtdose_expb.dcm', frames: 15, sameAs: 'rtdose.dcm', native: 400 },
      { sample: 'liver_expb_1frame.dcm', frames: 1, sameAs: 'liver_1frame.dcm', native: 32768 },
      { sample: 'SC_rgb_rle_2frame.dcm', frames: 2 },
      { sample: 'SC_rgb_rle_32bit_2frame.dcm', frames: 2 },
      { sample: 'MR_small_RLE.dcm', frames: 1 },
      { sample: 'MR_small_jpeg_ls_lossless.dcm', frames: 1 },
      { sample: 'MR_small_jp2klossless.dcm', frames: 1 },
      { sample: 'JPEG2000-embedded-sequence-delimiter.dcm', frames: 1 },
      { sample: 'JPEG-lossy.dcm', frames: 1 },
      { sample: 'SC_rgb_jpeg_gdcm.dcm', frames: 1 },
      { sample: '693_J2KI.dcm', frames: 1 },
    ];
    for (const c of cases) {
      const part10 = await readSample(c.sample);
      const { ref } = await stored(part10);
      const index = await instanceIndex(deps(), ref);
      const px = index.layout.pixels;
      expect(px?.numberOfFrames, c.sample).toBe(c.frames);
      expect(px?.kind, c.sample).toBe(c.native === undefined ? 'encapsulated' : 'native');
      const expected = dcmjsFrames(await readSample(c.sameAs ?? c.sample), c.native);
      expect(expected, c.sample).toHaveLength(c.frames);
      for (let n = 1; n <= c.frames; n++) {
        const got = await readFrame(deps(), index, n);
        expect(got.equals(expected[n - 1]!), `${c.sample} frame ${n}`).toBe(true);
      }
      await expect(readFrame(deps(), index, c.frames + 1)).rejects.toMatchObject({
        code: 'dicomweb.frame_not_found',
      });
    }
  });

  it('gives the frames dcmjs reads for every corpus sample with pixels (big endian: its twin little endian)', async () => {
    const twins: Record<string, string> = {
      'MR_small_bigendian.dcm': 'MR_small.dcm',
      'MR_small_expb.dcm': 'MR_small.dcm',
      'rtdose_expb.dcm': 'rtdose.dcm',
      'rtdose_expb_1frame.dcm': 'rtdose_1frame.dcm',
      'liver_expb_1frame.dcm': 'liver_1frame.dcm',
    };
    const names = (await readdir(DICOM_SAMPLES_DIR)).filter((n) => n.endsWith('.dcm'));
    const problems: string[] = [];
    let checked = 0;
    for (const name of names) {
      const part10 = await readSample(name);
      if (part10.toString('latin1', 128, 132) !== 'DICM') continue;
      let expected: Buffer[];
      try {
        expected = dcmjsFrames(await readSample(twins[name] ?? name));
      } catch {
        continue; // no Pixel Data, or dcmjs cannot read it
      }
      const { ref } = await stored(part10);
      const index = await instanceIndex(deps(), ref);
      const px = index.layout.pixels;
      if (!px) {
        problems.push(`${name}: no pixels found`);
        continue;
      }
      if (px.kind === 'native') {
        const whole = Buffer.concat(expected);
        const size = Math.ceil(px.frameBits / 8);
        expected = [...Array(px.numberOfFrames)].map((_, i) => whole.subarray(i * size, (i + 1) * size));
      }
      const got = await Promise.all(expected.map((_, i) => readFrame(deps(), index, i + 1)));
      if (px.numberOfFrames !== expected.length || got.some((g, i) => !g.equals(expected[i]!)))
        problems.push(`${name}: frames differ (${px.numberOfFrames} vs ${expected.length})`);
      checked++;
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });

  it('steps over encapsulated pixels inside a sequence (an icon image) to the top-level Pixel Data', async () => {
    const ct = await readSample('CT_small.dcm');
    const at = ct.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57])); // (7FE0,0010) OW
    const el = (group: number, element: number, vr: string | undefined, length: number) => {
      const b = Buffer.alloc(vr === undefined ? 8 : 12);
      b.writeUInt16LE(group, 0);
      b.writeUInt16LE(element, 2);
      if (vr === undefined) b.writeUInt32LE(length, 4);
      else {
        b.write(vr, 4, 'latin1');
        b.writeUInt32LE(length, 8);
      }
      return b;
    };
    const fragment = Buffer.alloc(2000, 0xab);
    const icon = Buffer.concat([
      el(0x0088, 0x0200, 'SQ', 0xffffffff),
      el(0xfffe, 0xe000, undefined, 0xffffffff),
      el(0x7fe0, 0x0010, 'OB', 0xffffffff),
      el(0xfffe, 0xe000, undefined, 0),
      el(0xfffe, 0xe000, undefined, fragment.length),
      fragment,
      el(0xfffe, 0xe0dd, undefined, 0),
      el(0xfffe, 0xe00d, undefined, 0),
      el(0xfffe, 0xe0dd, undefined, 0),
    ]);
    const part10 = Buffer.concat([ct.subarray(0, at), icon, ct.subarray(at)]);
    const { ref } = await stored(part10);
    const index = await instanceIndex(deps(), ref);
    expect((await readFrame(deps(), index, 1)).equals(dcmjsFrames(ct)[0]!)).toBe(true);
  });

  it('knows an instance without pixels, and finds its large binary values by path', async () => {
    const { ref } = await stored(await readSample('waveform_ecg.dcm'));
    const index = await instanceIndex(deps(), ref);
    expect(index.layout.pixels).toBeUndefined();
    await expect(readFrame(deps(), index, 1)).rejects.toMatchObject({ code: 'dicomweb.no_pixel_data' });
    // Waveform Data (5400,1010) inside the Waveform Sequence (5400,0100), item 0.
    const path = '54000100/0/54001010';
    expect(index.layout.bulk.has(path)).toBe(true);
    const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(await readSample('waveform_ecg.dcm')));
    const seq = file.dict['54000100']?.Value as Record<string, { Value: ArrayBuffer[] }>[];
    const expected = Buffer.from(seq[0]!['54001010']!.Value[0]!);
    expect((await readBulkValue(deps(), index, path)).equals(expected)).toBe(true);
    await expect(readBulkValue(deps(), index, '00091010')).rejects.toMatchObject({
      code: 'dicomweb.bulkdata_not_found',
    });
  });

  it('finds every value ingest gave a BulkDataURI placeholder, in every corpus sample, at the same path', async () => {
    const names = (await readdir(DICOM_SAMPLES_DIR)).filter((n) => n.endsWith('.dcm'));
    let checked = 0;
    for (const name of names) {
      const part10 = await readSample(name);
      if (part10.toString('latin1', 128, 132) !== 'DICM') continue;
      const { metadata } = await parseDicomHeader(part10, { whole: true });
      const { ref } = await stored(part10, 64 * 1024);
      const index = await instanceIndex(deps(), ref);
      for (const path of placeholderPaths(metadata)) {
        if (path === '7FE00010') expect(index.layout.pixels, name).toBeDefined();
        else expect(index.layout.bulk.has(path), `${name} ${path}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(45);
  });

  it('reads frame 50 of 100 with a small fraction of the object once the index is built', async () => {
    const part10 = await nativeMultiFrame(100);
    const frameBytes = MULTI_FRAME_BYTES;
    const { ref, sealed } = await stored(part10, 16 * 1024);
    clearInstanceIndexes();
    counting.bytesRead = 0;
    const index = await instanceIndex(deps(), ref);
    await index.sealed.complete;
    expect(counting.bytesRead).toBe(sealed.objectBytes); // the one pass
    expect(index.layout.pixels?.numberOfFrames).toBe(100);
    expect(await instanceIndex(deps(), ref)).toBe(index); // cached

    counting.bytesRead = 0;
    const frame = await readFrame(deps(), index, 50);
    const expected = dcmjsFrames(part10, frameBytes)[49]!;
    expect(frame.equals(expected)).toBe(true);
    expect(counting.bytesRead).toBeGreaterThanOrEqual(frameBytes);
    expect(counting.bytesRead).toBeLessThan(sealed.objectBytes / 20);
  });

  it('answers a native frame before the rest of the object is indexed, and forgets an object that fails later', async () => {
    const part10 = await nativeMultiFrame(300);
    const { ref, sealed } = await stored(part10, 64 * 1024);
    // Past the first MiB the blob reader gathers before handing on (open-stored-object.ts coalesce).
    counting.holdAfter = 1280 * 1024;
    try {
      const index = await instanceIndex(deps(), ref);
      let done = false;
      void index.sealed.complete.then(() => {
        done = true;
      });
      expect((await readFrame(deps(), index, 2)).equals(dcmjsFrames(part10, MULTI_FRAME_BYTES)[1]!)).toBe(
        true,
      );
      expect(done).toBe(false);
      // A frame past what is indexed waits for it.
      const last = readFrame(deps(), index, 300);
      counting.release();
      expect((await last).equals(dcmjsFrames(part10, MULTI_FRAME_BYTES)[299]!)).toBe(true);
      await index.sealed.complete;
    } finally {
      counting.release();
    }

    // The same bytes with the last frame's tag broken: the first frames open, the index is then dropped.
    const broken = { objectId: sealed.objectId, blobKey: `${ref.blobKey}.broken` };
    const bytes = Buffer.from(sealed.bytes);
    bytes[bytes.length - 1]! ^= 0xff;
    counting.objects.set(broken.blobKey, bytes);
    const index = await instanceIndex(deps(), broken);
    await expect(index.sealed.complete).rejects.toMatchObject({ code: 'crypto.bad_object' });
    await expect(readFrame(deps(), index, 300)).rejects.toMatchObject({ code: 'crypto.bad_object' });
    expect(await instanceIndex(deps(), broken)).not.toBe(index);
  });

  it('cuts packed frames of BitsAllocated 1 at any bit', async () => {
    const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(await readSample('liver_1frame.dcm')));
    // 3 x 5 pixels: 15 bits a frame, so frames 2 and 3 start inside a byte.
    const bits = [...Array(4 * 15)].map((_, i) => (i * 5 + (i >> 3)) % 3 === 0);
    const packed = Buffer.alloc(Math.ceil(bits.length / 8) + 1);
    bits.forEach((on, i) => {
      if (on) packed[i >> 3]! |= 1 << (i & 7);
    });
    Object.assign(file.dict, {
      '00280010': { vr: 'US', Value: [3] },
      '00280011': { vr: 'US', Value: [5] },
      '00280008': { vr: 'IS', Value: [4] },
      '7FE00010': { vr: 'OB', Value: [arrayBufferOf(packed)] },
    });
    const { ref } = await stored(Buffer.from(file.write()), 4096);
    const index = await instanceIndex(deps(), ref);
    for (let n = 1; n <= 4; n++) {
      const frame = await readFrame(deps(), index, n);
      expect(frame).toHaveLength(2);
      const got = [...Array(15)].map((_, i) => Boolean(frame[i >> 3]! & (1 << (i & 7))));
      expect(got, `frame ${n}`).toEqual(bits.slice((n - 1) * 15, n * 15));
      expect(frame[1]! >> 7, 'bits past the frame are zero').toBe(0);
    }
  });
});
