import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../errors/index.js';
import {
  decodeImageFrame,
  decodeJpegLsFrame,
  encodeJpegLsFrame,
  encodeJpegLsVerified,
  initJpegLs,
  JPEGLS_HEADER_BYTES,
  jpegLsCoded,
  MAX_RAW_FRAME_BYTES,
  type PixelBand,
} from './index.js';

const wasm = readFileSync(createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm'));
beforeAll(() => initJpegLs(wasm));

/** Smooth ramps with a little noise: what a CT slice's neighbourhoods look like to a predictor. */
function smooth(
  b: PixelBand,
  seed = 7,
  words: (x: number, y: number, c: number) => number = () => 0,
): Buffer {
  const out = Buffer.alloc(b.width * b.height * b.components * b.sampleBytes);
  let s = seed;
  const noise = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 16) & 7;
  };
  let i = 0;
  for (let y = 0; y < b.height; y++)
    for (let x = 0; x < b.width; x++)
      for (let c = 0; c < b.components; c++) {
        const v = (x * 3 + y * 2 + c * 40 + noise() + words(x, y, c)) & (b.sampleBytes === 2 ? 0xffff : 0xff);
        if (b.sampleBytes === 1) out[i++] = v;
        else if (b.bigEndian) out.writeUInt16BE(v, i++ * 2);
        else out.writeUInt16LE(v, i++ * 2);
      }
  return out;
}

const grey16: PixelBand = {
  width: 256,
  height: 64,
  components: 1,
  sampleBytes: 2,
  bigEndian: false,
  signed: false,
};

describe('JPEG-LS bands', () => {
  const cases: [string, PixelBand, ((x: number, y: number, c: number) => number)?][] = [
    ['16-bit unsigned', grey16],
    ['16-bit signed around zero (CT in HU)', { ...grey16, signed: true }, (x) => (x < 100 ? -1024 : -3)],
    ['16-bit with unused high bits set (overlay, padding)', grey16, (x, y) => (x === y ? 0xf000 : 0)],
    ['16-bit big endian', { ...grey16, bigEndian: true }],
    ['8-bit greyscale', { ...grey16, sampleBytes: 1 }],
    ['8-bit signed', { ...grey16, sampleBytes: 1, signed: true }, (x) => (x & 1 ? 0x80 : 0x7f)],
    ['8-bit RGB by pixel', { ...grey16, sampleBytes: 1, components: 3 }],
    ['one row', { ...grey16, height: 1 }],
    ['one column', { ...grey16, width: 1, height: 300 }],
  ];
  for (const [name, band, words] of cases) {
    it(`round-trips ${name} byte for byte, smaller than raw`, () => {
      const raw = smooth(band, 3, words);
      const frame = encodeJpegLsVerified(raw, band);
      expect(frame).toBeDefined();
      expect(frame!.length).toBeLessThan(raw.length);
      expect(decodeJpegLsFrame(frame!).equals(raw)).toBe(true);
    });
  }

  it('codes the fewest bits the band needs (12-bit data is coded at 12 bits or fewer)', () => {
    const raw = Buffer.alloc(grey16.width * grey16.height * 2);
    for (let i = 0; i < raw.length / 2; i++) raw.writeUInt16LE((i * 13) & 0x0fff, i * 2);
    const frame = encodeJpegLsFrame(raw, grey16);
    expect(frame[3]).toBeLessThanOrEqual(12);
  });

  it('round-trips 16-bit data of a narrow range, coded at 8 bits or fewer', () => {
    const raw = Buffer.alloc(grey16.width * grey16.height * 2);
    for (let i = 0; i < raw.length / 2; i++) raw.writeUInt16LE(0x7000 + ((i * 7) % 61), i * 2);
    const frame = encodeJpegLsVerified(raw, grey16)!;
    expect(frame[3]).toBeLessThanOrEqual(8);
    expect(decodeJpegLsFrame(frame).equals(raw)).toBe(true);
  });

  it('gives up (undefined) on bands that do not shrink: white noise', () => {
    const raw = Buffer.alloc(grey16.width * grey16.height * 2);
    let s = 99;
    for (let i = 0; i < raw.length; i++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      raw[i] = s >>> 24;
    }
    expect(encodeJpegLsVerified(raw, grey16)).toBeUndefined();
  });

  it('refuses a band whose size does not match its dimensions, or exceeds one frame', () => {
    expect(() => encodeJpegLsFrame(Buffer.alloc(10), grey16)).toThrow(RangeError);
    const big: PixelBand = { ...grey16, width: 1024, height: 513 };
    expect(() => encodeJpegLsFrame(Buffer.alloc(1024 * 513 * 2), big)).toThrow(RangeError);
  });

  it('decodes through the image frame codec byte', async () => {
    const raw = smooth(grey16);
    const coded = jpegLsCoded(encodeJpegLsVerified(raw, grey16)!, raw.length);
    expect(coded.codec).toBe('jpegls');
    expect((await decodeImageFrame(Buffer.concat(coded.parts))).equals(raw)).toBe(true);
  });
});

describe('JPEG-LS frames from a hostile agent', () => {
  const raw = smooth(grey16);
  const good = () => Buffer.from(encodeJpegLsFrame(raw, grey16));
  const refused = (frame: Buffer) => {
    try {
      decodeJpegLsFrame(frame);
    } catch (err) {
      expect(isFerryError(err) && err.code).toBe('crypto.bad_object');
      return (err as Error).message;
    }
    throw new Error('decoded');
  };

  it('refuses a header that claims more than one frame of data, before decoding', () => {
    const f = good();
    f.writeUInt32BE(65535, 6);
    f.writeUInt32BE(65535, 10);
    expect(refused(f)).toMatch(/more than one frame/);
    expect(65535 * 65535 * 2).toBeGreaterThan(MAX_RAW_FRAME_BYTES);
  });

  it('refuses a stream whose own frame header disagrees with ours (a bomb in the bitstream)', () => {
    const f = good();
    // The SOF55 marker follows SOI: its height field is 5 bytes in.
    const sof = f.indexOf(Buffer.from([0xff, 0xf7]), JPEGLS_HEADER_BYTES);
    expect(sof).toBeGreaterThan(0);
    f.writeUInt16BE(60000, sof + 5);
    expect(refused(f)).toMatch(/does not match/);
  });

  it('refuses bad flags, sample sizes, bit depths and truncated or corrupt streams', () => {
    const flags = good();
    flags[2] = 0x80;
    expect(refused(flags)).toMatch(/flags/);
    const size = good();
    size[0] = 4;
    expect(refused(size)).toMatch(/sample size/);
    const bits = good();
    bits[3] = 17;
    expect(refused(bits)).toMatch(/bit depth/);
    expect(refused(good().subarray(0, JPEGLS_HEADER_BYTES + 3))).toMatch(/too short|SOI|frame header/);
    const corrupt = good();
    corrupt.fill(0xff, corrupt.length - 40);
    refused(corrupt);
  });

  it('refuses an unknown frame codec', async () => {
    await expect(decodeImageFrame(Buffer.from([9, 1, 2, 3]))).rejects.toThrow(/unknown codec 9/);
  });
});
