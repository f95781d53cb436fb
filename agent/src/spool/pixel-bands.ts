/**
 * Which stretches of a native Pixel Data value an image object codes with JPEG-LS: bands of whole
 * rows of one image frame, each at most MAX_RAW_FRAME_BYTES. Layouts the codec cannot take as they
 * are, or that are not worth a trip to a worker, get a reason instead, and the object is sealed as
 * zstd. The layout only steers the choice: every band is decoded and compared before it is sealed,
 * so a dataset whose attributes lie costs ratio, never bytes.
 */
import { MAX_RAW_FRAME_BYTES, type PixelBand } from '@ferry/shared';
import type { PixelLayout } from './header-reader.js';

/** One band: `length` bytes at `offset` within the Pixel Data value. */
export interface PlannedBand {
  offset: number;
  length: number;
  band: PixelBand;
}

export type NoPlanReason =
  | 'bits_allocated'
  | 'samples_per_pixel'
  | 'subsampled_colour'
  | 'big_endian_bytes'
  | 'no_pixels'
  | 'short_pixel_data'
  | 'small_frames'
  | 'wide_rows';

export type BandPlan = { ok: true; bands: PlannedBand[] } | { ok: false; reason: NoPlanReason };

/** Below this a frame codes in less time than its trip to a worker and back is worth. */
export const MIN_FRAME_BYTES = 8 << 10;

/**
 * A frame of at least twice MIN_BAND_ROWS rows is cut into at least this many bands: the pool's two
 * workers then code one slice's halves at once, and its C-STORE, which waits for its last band,
 * about half as long. Below MIN_BAND_ROWS rows a band would lose ratio (each starts its context
 * afresh) for little time.
 */
export const MIN_BANDS_PER_FRAME = 2;
export const MIN_BAND_ROWS = 64;

/**
 * The heights of one frame's bands: `rows` rows of `rowBytes` in the fewest even bands of at most
 * MAX_RAW_FRAME_BYTES, and at least MIN_BANDS_PER_FRAME of them when each keeps MIN_BAND_ROWS.
 * testkit/control-plane/image-object.ts cuts its image objects the same way.
 */
export function bandHeights(rows: number, rowBytes: number): number[] {
  const most = Math.floor(MAX_RAW_FRAME_BYTES / rowBytes);
  const count = Math.max(
    1,
    Math.ceil(rows / most),
    Math.min(MIN_BANDS_PER_FRAME, Math.floor(rows / MIN_BAND_ROWS)),
  );
  const each = Math.ceil(rows / count);
  const heights: number[] = [];
  for (let left = rows; left > 0; left -= each) heights.push(Math.min(each, left));
  return heights;
}

export function planBands(p: PixelLayout): BandPlan {
  if (p.bitsAllocated !== 8 && p.bitsAllocated !== 16) return { ok: false, reason: 'bits_allocated' };
  if (p.samplesPerPixel !== 1 && p.samplesPerPixel !== 3) return { ok: false, reason: 'samples_per_pixel' };
  if (/^YBR_.*(422|420)$/.test(p.photometricInterpretation))
    return { ok: false, reason: 'subsampled_colour' };
  // 8-bit samples in a big endian OW value are swapped in pairs: not rows of samples as they are.
  if (p.bigEndian && p.bitsAllocated === 8) return { ok: false, reason: 'big_endian_bytes' };
  if (p.rows < 1 || p.columns < 1 || p.frames < 1) return { ok: false, reason: 'no_pixels' };
  const sampleBytes = p.bitsAllocated === 16 ? 2 : 1;
  const frameBytes = p.rows * p.columns * p.samplesPerPixel * sampleBytes;
  if (p.valueLength < frameBytes * p.frames) return { ok: false, reason: 'short_pixel_data' };
  if (frameBytes < MIN_FRAME_BYTES) return { ok: false, reason: 'small_frames' };
  const planes = p.samplesPerPixel === 3 && p.planarConfiguration === 1 ? 3 : 1;
  const components: 1 | 3 = planes === 1 && p.samplesPerPixel === 3 ? 3 : 1;
  const rowBytes = p.columns * components * sampleBytes;
  if (rowBytes > MAX_RAW_FRAME_BYTES) return { ok: false, reason: 'wide_rows' };
  const heights = bandHeights(p.rows, rowBytes);
  const bands: PlannedBand[] = [];
  let offset = 0;
  for (let f = 0; f < p.frames * planes; f++) {
    for (const height of heights) {
      const band: PixelBand = {
        width: p.columns,
        height,
        components,
        sampleBytes,
        bigEndian: p.bigEndian && sampleBytes === 2,
        signed: p.pixelRepresentation === 1,
      };
      bands.push({ offset, length: height * rowBytes, band });
      offset += height * rowBytes;
    }
  }
  return { ok: true, bands };
}
