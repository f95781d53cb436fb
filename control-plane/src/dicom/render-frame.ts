/**
 * One frame of a stored instance as a JPEG or PNG (WADO-RS rendered and thumbnail resources): decoded
 * and windowed on a codec worker thread (codec-worker.ts), then cropped, scaled and encoded by sharp.
 */
import { FerryError, isEncapsulated } from '@ferry/shared';
import sharp from 'sharp';
import { renderPixelsInWorker } from './codec-pool.js';
import type { WindowParams } from './codec-worker.js';
import type { DicomJson, DicomJsonElement } from './dicom-json.js';

export type { WindowParams } from './codec-worker.js';

export type RenderFormat = 'jpeg' | 'png';

export const RENDER_MEDIA_TYPES: Record<RenderFormat, string> = { jpeg: 'image/jpeg', png: 'image/png' };

/** PS3.18 `viewport=vw,vh[,sx,sy,sw,sh]`: the output box, and the region of the image to show in it. */
export interface Viewport {
  width: number;
  height: number;
  region?: { left: number; top: number; width: number; height: number } | undefined;
}

export interface RenderOptions {
  format: RenderFormat;
  window?: WindowParams | undefined;
  /** The image is scaled to fit inside, aspect ratio kept. Without one, the frame's own size. */
  viewport?: Viewport | undefined;
  /** JPEG quality, 1-100. */
  quality?: number | undefined;
}

export interface FrameToRender {
  /** The instance's stored header (DICOM JSON). */
  metadata: DicomJson;
  transferSyntaxUid: string;
  /** 1-based: which per-frame functional group applies. */
  frameNumber: number;
  /** Native pixel bytes (little endian), or the frame's compressed bitstream. */
  frame: Uint8Array;
}

const DEFAULT_JPEG_QUALITY = 90;

const SHARED_FUNCTIONAL_GROUPS = '52009229';
const PER_FRAME_FUNCTIONAL_GROUPS = '52009230';
const PIXEL_VALUE_TRANSFORMATION = '00289145';
const FRAME_VOI_LUT = '00289132';
const RESCALE_TAGS = ['00281052', '00281053'];
const WINDOW_TAGS = ['00281050', '00281051', '00281056'];

function item(el: DicomJsonElement | undefined, index = 0): DicomJson | undefined {
  const v = el?.Value?.[index];
  return v && typeof v === 'object' && !('Alphabetic' in v) ? (v as DicomJson) : undefined;
}

/**
 * The header with the rescale and window of frame `frameNumber` brought to the top level: an
 * enhanced multi-frame image keeps them in its functional groups (per frame first, then shared).
 */
export function imageAttributes(metadata: DicomJson, frameNumber: number): DicomJson {
  const groups = [
    item(metadata[PER_FRAME_FUNCTIONAL_GROUPS], frameNumber - 1),
    item(metadata[SHARED_FUNCTIONAL_GROUPS]),
  ];
  const out: DicomJson = { ...metadata };
  const lift = (sequence: string, tags: string[]) => {
    if (tags.some((t) => metadata[t]?.Value !== undefined)) return;
    for (const g of groups) {
      const found = item(g?.[sequence]);
      if (found && tags.some((t) => found[t]?.Value !== undefined)) {
        for (const t of tags) if (found[t]) out[t] = found[t];
        return;
      }
    }
  };
  lift(PIXEL_VALUE_TRANSFORMATION, RESCALE_TAGS);
  lift(FRAME_VOI_LUT, WINDOW_TAGS);
  return out;
}

/**
 * Renders one frame as `options.format`. Throws dicomweb.cannot_decode (406) when the frame cannot be
 * decoded, naming the transfer syntax, and request.invalid when the viewport region lies outside the
 * image: never answers a broken image.
 */
export async function renderFrame(input: FrameToRender, options: RenderOptions): Promise<Buffer> {
  const result = await renderPixelsInWorker({
    attributes: imageAttributes(input.metadata, input.frameNumber),
    transferSyntaxUid: input.transferSyntaxUid,
    encapsulated: isEncapsulated(input.transferSyntaxUid),
    frame: input.frame,
    window: options.window,
  });
  if (!result.ok) {
    throw new FerryError(
      'dicomweb.cannot_decode',
      `this frame (transfer syntax ${input.transferSyntaxUid}) cannot be rendered: ${result.message}`,
    );
  }
  let image = sharp(result.pixels, {
    raw: { width: result.width, height: result.height, channels: result.channels },
  });
  const vp = options.viewport;
  if (vp?.region) {
    const r = vp.region;
    if (r.left + r.width > result.width || r.top + r.height > result.height) {
      throw new FerryError(
        'request.invalid',
        `viewport: the region ${r.left},${r.top},${r.width},${r.height} is outside the ${result.width}x${result.height} image`,
      );
    }
    image = image.extract(r);
  }
  if (vp) image = image.resize(vp.width, vp.height, { fit: 'inside', kernel: 'lanczos3' });
  // sharp writes sRGB unless told otherwise: a greyscale image stays one channel (a third of the bytes).
  if (result.channels === 1) image = image.toColourspace('b-w');
  return options.format === 'png'
    ? image.png({ compressionLevel: 6 }).toBuffer()
    : image.jpeg({ quality: options.quality ?? DEFAULT_JPEG_QUALITY }).toBuffer();
}
