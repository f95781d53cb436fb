/**
 * The data frames of an image object (header compression 'image') for a Part-10 file, coded the way
 * shared/src/crypto/image-frames.ts says the cloud reads them: the native Pixel Data of 8- or 16-bit
 * images of one or three samples a pixel (not subsampled colour) as JPEG-LS bands (whole rows of one frame, at most 1 MiB each,
 * cut as the agent's writer cuts them, a frame in two or more,
 * checked by encodeJpegLsVerified), everything else as zstd (or raw when zstd does not shrink it).
 * This is the cloud's side of the contract, built here from shared's coders: the agent's writer is
 * tested on its own.
 *
 * No vitest import here.
 */
import {
  type CodedFrame,
  compressFrame,
  encodeJpegLsVerified,
  jpegLsCoded,
  loadJpegLs,
  MAX_RAW_FRAME_BYTES,
  type PixelBand,
  zstdCoded,
} from '@ferry/shared';
import { bandHeights } from '../../agent/src/spool/pixel-bands.js';
import { type DicomJson, parseDicomHeader } from '../../control-plane/src/dicom/dicom-json.js';
import { readPart10Layout } from '../../control-plane/src/dicom/part10-layout.js';
import '../../control-plane/src/storage/jpegls-wasm.js';

/** One stretch of the file and how it is to be coded: a pixel band, or bytes for zstd. */
type Stretch = { at: number; end: number; band?: PixelBand };

/** Colour subsampled in pairs or quads: a frame's bytes are not rows of whole pixels. */
const SUBSAMPLED = /^YBR_.*(422|420)$/;

function firstValue(metadata: DicomJson, tag: string): unknown {
  const v = metadata[tag]?.Value;
  return Array.isArray(v) ? v[0] : undefined;
}

function numberOf(metadata: DicomJson, tag: string): number | undefined {
  const v = firstValue(metadata, tag);
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

/** The image's planes, as bands of whole rows, when its pixels are ones the image codec takes. */
export interface PixelPlan {
  /** Where the frames' bytes start in the file. */
  start: number;
  /** Bytes of all frames (the value may hold a pad byte more). */
  bytes: number;
  /** Bytes of one frame. */
  frameBytes: number;
  /** Every band, in file order. */
  bands: { at: number; band: PixelBand }[];
}

/** A plane's bands, cut as the agent's writer cuts them (its bandHeights), so band counts compare. */
function bandsOf(start: number, plane: number, rows: number, rowBand: Omit<PixelBand, 'height'>) {
  const rowBytes = rowBand.width * rowBand.components * rowBand.sampleBytes;
  const out: { at: number; band: PixelBand }[] = [];
  let row = 0;
  for (const height of bandHeights(rows, rowBytes)) {
    out.push({ at: start + plane + row * rowBytes, band: { ...rowBand, height } });
    row += height;
  }
  return out;
}

/**
 * How the image codec would cut `part10`'s Pixel Data, or undefined when it takes none of it
 * (encapsulated or deflated syntax, no pixels, a bit depth or layout it cannot code as rows).
 */
export async function pixelPlanOf(part10: Buffer): Promise<PixelPlan | undefined> {
  // Not a Part-10 file the control plane reads: its bytes go as zstd, as the agent would send them.
  const layout = await readPart10Layout(
    (async function* () {
      yield part10;
    })(),
  ).catch(() => undefined);
  if (!layout) return undefined;
  const px = layout.pixels;
  if (layout.deflated || px?.kind !== 'native') return undefined;
  const { metadata } = await parseDicomHeader(part10, { whole: true });
  const rows = numberOf(metadata, '00280010');
  const width = numberOf(metadata, '00280011');
  const samples = numberOf(metadata, '00280002') ?? 1;
  const photometric = firstValue(metadata, '00280004');
  const planar = numberOf(metadata, '00280006') ?? 0;
  const signed = numberOf(metadata, '00280103') === 1;
  if (!rows || !width || (px.bitsAllocated !== 8 && px.bitsAllocated !== 16)) return undefined;
  if (samples !== 1 && samples !== 3) return undefined;
  if (typeof photometric !== 'string' || SUBSAMPLED.test(photometric)) return undefined;
  // 8-bit samples in a big endian OW value are swapped in pairs: not rows of samples as they are.
  if (!layout.littleEndian && px.bitsAllocated === 8) return undefined;
  const sampleBytes = px.bitsAllocated / 8;
  const frameBytes = rows * width * samples * sampleBytes;
  const bytes = frameBytes * px.numberOfFrames;
  if (px.frameBits !== frameBytes * 8 || bytes === 0 || bytes > px.value.length) return undefined;
  const byPlane = samples === 3 && planar === 1;
  const components: 1 | 3 = byPlane || samples === 1 ? 1 : 3;
  if (width * components * sampleBytes > MAX_RAW_FRAME_BYTES) return undefined;
  const rowBand = {
    width,
    components,
    sampleBytes: sampleBytes as 1 | 2,
    bigEndian: !layout.littleEndian,
    signed,
  };
  const bands: PixelPlan['bands'] = [];
  const planeBytes = frameBytes / (byPlane ? 3 : 1);
  for (let f = 0; f < px.numberOfFrames; f++) {
    for (let p = 0; p < (byPlane ? 3 : 1); p++) {
      bands.push(...bandsOf(px.value.offset + f * frameBytes, p * planeBytes, rows, rowBand));
    }
  }
  return { start: px.value.offset, bytes, frameBytes, bands };
}

async function zstdFrames(bytes: Buffer): Promise<CodedFrame[]> {
  const out: CodedFrame[] = [];
  for (let at = 0; at < bytes.length; at += MAX_RAW_FRAME_BYTES) {
    const chunk = bytes.subarray(at, Math.min(bytes.length, at + MAX_RAW_FRAME_BYTES));
    out.push(zstdCoded(await compressFrame([chunk]), [chunk]));
  }
  return out;
}

/** `part10` as an image object's data frames, in order; their decoded bytes concatenate to it. */
export async function imageCodedFrames(part10: Buffer): Promise<CodedFrame[]> {
  await loadJpegLs();
  const plan = await pixelPlanOf(part10);
  const stretches: Stretch[] = [];
  let at = 0;
  for (const { at: bandAt, band } of plan?.bands ?? []) {
    if (bandAt > at) stretches.push({ at, end: bandAt });
    const end = bandAt + band.width * band.height * band.components * band.sampleBytes;
    stretches.push({ at: bandAt, end, band });
    at = end;
  }
  if (at < part10.length) stretches.push({ at, end: part10.length });
  const out: CodedFrame[] = [];
  for (const s of stretches) {
    const raw = part10.subarray(s.at, s.end);
    const coded = s.band ? encodeJpegLsVerified(raw, s.band) : undefined;
    if (coded) out.push(jpegLsCoded(coded, raw.length));
    else out.push(...(await zstdFrames(raw)));
  }
  return out;
}
