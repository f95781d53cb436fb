import { describe, expect, it } from 'vitest';
import { isFerryError } from '../errors/index.js';
import {
  compressFrame,
  compressFrameSync,
  decompressFrame,
  MAX_DECODE_BOUND,
  MAX_RAW_FRAME_BYTES,
  zstdOutputBound,
} from './compression.js';

function rampWithNoise(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = 7;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = ((i >> 9) + (x & 3)) & 0xff;
  }
  return b;
}

describe('zstd frames', () => {
  it('round-trips, bounding the output by the block headers', async () => {
    const raw = rampWithNoise(MAX_RAW_FRAME_BYTES);
    const frame = await compressFrame([raw.subarray(0, 100), raw.subarray(100)]);
    expect(frame.rawBytes).toBe(raw.length);
    expect(frame.zstd.length).toBeLessThan(raw.length / 2);
    const bound = zstdOutputBound(frame.zstd);
    expect(bound).toBeGreaterThanOrEqual(raw.length);
    expect(bound).toBeLessThanOrEqual(MAX_DECODE_BOUND);
    expect((await decompressFrame(frame.zstd)).equals(raw)).toBe(true);
    expect(compressFrameSync([raw]).zstd.equals(frame.zstd)).toBe(true);
  });

  it('refuses more than one frame of raw bytes', () => {
    expect(() => compressFrameSync([Buffer.alloc(MAX_RAW_FRAME_BYTES + 1)])).toThrow(RangeError);
  });

  it.each([
    ['trailing bytes', (z: Buffer) => Buffer.concat([z, Buffer.from([0])])],
    ['two frames', (z: Buffer) => Buffer.concat([z, z])],
    ['a truncated frame', (z: Buffer) => z.subarray(0, z.length - 2)],
    ['a bad magic number', (z: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0]), z.subarray(4)])],
    [
      'a dictionary id',
      (z: Buffer) => {
        const c = Buffer.from(z);
        c[4] = (c[4] ?? 0) | 1;
        return c;
      },
    ],
  ])('rejects %s before decoding', async (_name, mangle) => {
    const { zstd } = compressFrameSync([Buffer.from('hello hello hello hello')]);
    const err = await decompressFrame(mangle(zstd)).catch((e: unknown) => e);
    expect(isFerryError(err, 'crypto.bad_object')).toBe(true);
  });
});
