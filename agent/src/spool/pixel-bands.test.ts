import { MAX_RAW_FRAME_BYTES } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import type { PixelLayout } from './header-reader.js';
import { bandHeights, MIN_BAND_ROWS, planBands } from './pixel-bands.js';

const ct: PixelLayout = {
  valueOffset: 1000,
  valueLength: 512 * 512 * 2,
  rows: 512,
  columns: 512,
  samplesPerPixel: 1,
  photometricInterpretation: 'MONOCHROME2',
  planarConfiguration: 0,
  frames: 1,
  bitsAllocated: 16,
  pixelRepresentation: 1,
  bigEndian: false,
};

function bands(p: PixelLayout) {
  const plan = planBands(p);
  if (!plan.ok) throw new Error(`no plan: ${plan.reason}`);
  return plan.bands;
}

describe('planBands', () => {
  it('cuts a 512×512 16-bit slice in two bands of 256 rows, for the two workers to code at once', () => {
    const half = { width: 512, height: 256, components: 1, sampleBytes: 2, bigEndian: false, signed: true };
    expect(bands(ct)).toEqual([
      { offset: 0, length: 256 * 512 * 2, band: half },
      { offset: 256 * 512 * 2, length: 256 * 512 * 2, band: half },
    ]);
  });

  it('keeps a frame of fewer than twice MIN_BAND_ROWS rows whole, and cuts the rest evenly', () => {
    expect(bandHeights(2 * MIN_BAND_ROWS - 1, 512)).toEqual([2 * MIN_BAND_ROWS - 1]);
    expect(bandHeights(2 * MIN_BAND_ROWS, 512)).toEqual([MIN_BAND_ROWS, MIN_BAND_ROWS]);
    expect(bandHeights(10, 512)).toEqual([10]);
    expect(bandHeights(257, 1024)).toEqual([129, 128]);
    // Two bands at most for that reason: a frame of many rows is not cut finer while each fits 1 MiB.
    expect(bandHeights(2048, 256)).toEqual([1024, 1024]);
  });

  it('cuts a large frame into even bands of whole rows, each at most 1 MiB, frame by frame', () => {
    // The DWI mosaic: 1368 rows of 1350 16-bit pixels (3.5 MiB a frame), two frames.
    const p = { ...ct, rows: 1368, columns: 1350, frames: 2, valueLength: 1368 * 1350 * 2 * 2 };
    const b = bands(p);
    expect(b.length).toBe(8);
    expect(b.map((x) => x.band.height)).toEqual([342, 342, 342, 342, 342, 342, 342, 342]);
    for (const x of b) expect(x.length).toBeLessThanOrEqual(MAX_RAW_FRAME_BYTES);
    // Contiguous, and each band is whole rows of one frame.
    expect(b.map((x) => x.offset)).toEqual(b.map((_, i) => i * 342 * 1350 * 2));
    expect(b.reduce((n, x) => n + x.length, 0)).toBe(p.valueLength);
  });

  it('codes colour by pixel as three components, and colour by plane as three greyscale planes', () => {
    const rgb = {
      ...ct,
      samplesPerPixel: 3,
      bitsAllocated: 8,
      pixelRepresentation: 0,
      rows: 100,
      columns: 100,
    };
    const byPixel = bands({ ...rgb, valueLength: 30_000 });
    expect(byPixel).toHaveLength(1);
    expect(byPixel[0]).toMatchObject({
      length: 30_000,
      band: { components: 3, sampleBytes: 1, signed: false },
    });
    const byPlane = bands({ ...rgb, planarConfiguration: 1, valueLength: 30_000 });
    expect(byPlane.map((x) => [x.offset, x.length, x.band.components])).toEqual([
      [0, 10_000, 1],
      [10_000, 10_000, 1],
      [20_000, 10_000, 1],
    ]);
  });

  it('keeps big endian 16-bit words big endian', () => {
    expect(bands({ ...ct, bigEndian: true })[0]!.band.bigEndian).toBe(true);
  });

  it('leaves trailing bytes after the last frame out of the bands (they go as zstd)', () => {
    const b = bands({ ...ct, valueLength: 512 * 512 * 2 + 10 });
    expect(b.reduce((n, x) => n + x.length, 0)).toBe(512 * 512 * 2);
  });

  it.each([
    ['bits_allocated', { bitsAllocated: 32 }],
    ['bits_allocated', { bitsAllocated: 1 }],
    ['samples_per_pixel', { samplesPerPixel: 4 }],
    ['subsampled_colour', { samplesPerPixel: 3, photometricInterpretation: 'YBR_FULL_422' }],
    ['subsampled_colour', { samplesPerPixel: 3, photometricInterpretation: 'YBR_PARTIAL_420' }],
    ['big_endian_bytes', { bigEndian: true, bitsAllocated: 8 }],
    ['short_pixel_data', { valueLength: 512 * 512 * 2 - 1 }],
    ['short_pixel_data', { frames: 2 }],
    ['small_frames', { rows: 64, columns: 63, valueLength: 64 * 63 * 2 }],
    ['no_pixels', { rows: 0 }],
    ['no_pixels', { frames: 0 }],
    ['wide_rows', { rows: 1, columns: 600_000, valueLength: 1_200_000 }],
  ] as const)('falls back to zstd (%s) for %o', (reason, change) => {
    expect(planBands({ ...ct, ...change })).toEqual({ ok: false, reason });
  });

  it('codes YBR_FULL (not subsampled) colour', () => {
    const p = { ...ct, samplesPerPixel: 3, bitsAllocated: 8, photometricInterpretation: 'YBR_FULL' };
    expect(bands({ ...p, valueLength: 512 * 512 * 3 }).every((x) => x.band.components === 3)).toBe(true);
  });
});
