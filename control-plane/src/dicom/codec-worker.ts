/**
 * The codec worker thread (run by codec-pool.ts): every job that needs the WASM codecs runs here, so
 * a heavy decode never holds the control plane's event loop. Two kinds of job:
 * - render: decoding and windowing of one frame into displayable 8-bit pixels, with dcmjs-imaging and
 *   dcmjs-codecs (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K, JPEG XL and RLE);
 * - decode: one instance's compressed frames to their native bytes, components as stored (transcoding).
 * Node loads it without the build step in tests (type stripping), so it imports no project module
 * except types, and uses only erasable TypeScript.
 */
import { createRequire } from 'node:module';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { DicomJson } from './dicom-json.js';

/** What a request asks of the VOI stage (PS3.18 `window=center,width,function`). */
export interface WindowParams {
  center: number;
  width: number;
  function?: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID' | undefined;
}

export interface RenderPixelsJob {
  /** The image attributes of the frame (see imageAttributes in render-frame.ts). */
  attributes: DicomJson;
  /** The stored transfer syntax: native frames arrive as little-endian pixel bytes whatever it is. */
  transferSyntaxUid: string;
  encapsulated: boolean;
  /** One frame: native pixel bytes, or the frame's compressed bitstream. */
  frame: Uint8Array;
  window?: WindowParams | undefined;
}

export type RenderedPixels =
  | { ok: true; width: number; height: number; channels: 1 | 3; pixels: Uint8Array<ArrayBuffer> }
  | { ok: false; message: string };

/** Above this many pixels a frame is refused: the pipeline holds ~12 bytes per pixel while rendering. */
export const MAX_RENDER_PIXELS = 40_000_000;

interface DcmjsWindowLevel {
  readonly _brand: 'WindowLevel';
}
interface DcmjsImaging {
  DicomImage: new (
    elements: Record<string, unknown>,
    transferSyntaxUid: string,
  ) => {
    render(opts: { frame: number; windowLevel?: DcmjsWindowLevel; renderOverlays: boolean }): {
      width: number;
      height: number;
      pixels: ArrayBuffer;
    };
  };
  WindowLevel: new (window: number, level: number) => DcmjsWindowLevel;
  NativePixelDecoder: { initializeAsync(opts?: { logNativeDecodersMessages?: boolean }): Promise<void> };
  log: { setLevel(level: string): void };
}

type DecodeMethod = 'decodeRle' | 'decodeJpeg' | 'decodeJpegLs' | 'decodeJpeg2000' | 'decodeJpegXl';
interface CodecsContext {
  getDecodedBuffer(): Uint8Array | undefined;
}
type CodecFn = (context: CodecsContext, parameters?: Record<string, unknown>) => CodecsContext;
interface DcmjsCodecs {
  Context: new (attrs: Record<string, unknown>) => CodecsContext;
  NativeCodecs: { initializeAsync(opts?: { logCodecsInfo?: boolean }): Promise<void> } & Record<
    DecodeMethod,
    CodecFn
  > &
    Record<string, CodecFn | undefined>;
  log: { setLevel(level: string): void };
}

const require = createRequire(import.meta.url);
const imaging = require('dcmjs-imaging') as DcmjsImaging;
const codecs = require('dcmjs-codecs') as DcmjsCodecs;
imaging.log.setLevel('silent');
codecs.log.setLevel('silent');

let decoders: Promise<unknown> | undefined;

/** Loads the WASM codecs once per thread. */
export async function initCodecs(): Promise<void> {
  decoders ??= Promise.all([
    imaging.NativePixelDecoder.initializeAsync({ logNativeDecodersMessages: false }),
    codecs.NativeCodecs.initializeAsync({ logCodecsInfo: false }),
  ]);
  await decoders;
}

/**
 * Colour frames of these syntaxes are decoded here rather than by dcmjs-imaging, whose decoding
 * context inverts the planar configuration (0.2.5: an RLE colour frame comes out as stripes) and
 * whose colour pipeline reads 8-bit samples only.
 */
const COLOUR_DECODERS: Record<string, DecodeMethod> = {
  '1.2.840.10008.1.2.5': 'decodeRle',
  '1.2.840.10008.1.2.4.57': 'decodeJpeg',
  '1.2.840.10008.1.2.4.70': 'decodeJpeg',
  '1.2.840.10008.1.2.4.80': 'decodeJpegLs',
  '1.2.840.10008.1.2.4.81': 'decodeJpegLs',
  '1.2.840.10008.1.2.4.90': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.91': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.201': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.202': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.203': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.110': 'decodeJpegXl',
  '1.2.840.10008.1.2.4.111': 'decodeJpegXl',
  '1.2.840.10008.1.2.4.112': 'decodeJpegXl',
};

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Tag → dcmjs-imaging's (naturalized) element name: everything its pixel and LUT pipelines read. */
const ELEMENT_NAMES: Record<string, string> = {
  '00280002': 'SamplesPerPixel',
  '00280004': 'PhotometricInterpretation',
  '00280006': 'PlanarConfiguration',
  '00280010': 'Rows',
  '00280011': 'Columns',
  '00280100': 'BitsAllocated',
  '00280101': 'BitsStored',
  '00280102': 'HighBit',
  '00280103': 'PixelRepresentation',
  '00280106': 'SmallestImagePixelValue',
  '00280107': 'LargestImagePixelValue',
  '00280120': 'PixelPaddingValue',
  '00281050': 'WindowCenter',
  '00281051': 'WindowWidth',
  '00281052': 'RescaleIntercept',
  '00281053': 'RescaleSlope',
  '00281056': 'VOILUTFunction',
  '00281101': 'RedPaletteColorLookupTableDescriptor',
  '00281102': 'GreenPaletteColorLookupTableDescriptor',
  '00281103': 'BluePaletteColorLookupTableDescriptor',
  '00281201': 'RedPaletteColorLookupTableData',
  '00281202': 'GreenPaletteColorLookupTableData',
  '00281203': 'BluePaletteColorLookupTableData',
};
/** Read as arrays whatever their multiplicity. */
const ARRAY_ELEMENTS = new Set([
  'RedPaletteColorLookupTableDescriptor',
  'GreenPaletteColorLookupTableDescriptor',
  'BluePaletteColorLookupTableDescriptor',
  'WindowCenter',
  'WindowWidth',
]);

function bufferOf(base64: string): ArrayBuffer {
  const bytes = Buffer.from(base64, 'base64');
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}

/** The naturalized elements dcmjs-imaging renders from: the image attributes and one frame. */
function elementsOf(job: RenderPixelsJob): Record<string, unknown> {
  const elements: Record<string, unknown> = {};
  for (const [tag, name] of Object.entries(ELEMENT_NAMES)) {
    const el = job.attributes[tag];
    if (!el) continue;
    if (el.InlineBinary !== undefined) {
      elements[name] = [bufferOf(el.InlineBinary)];
      continue;
    }
    const values = (el.Value ?? []).map((v) => (typeof v === 'string' ? v.trim() : v));
    if (values.length === 0 || values[0] === null) continue;
    elements[name] = ARRAY_ELEMENTS.has(name) || values.length > 1 ? values : values[0];
  }
  elements.NumberOfFrames = 1;
  const frame = new ArrayBuffer(job.frame.byteLength);
  new Uint8Array(frame).set(job.frame);
  elements.PixelData = [frame];
  if (job.window) {
    elements.WindowCenter = [job.window.center];
    elements.WindowWidth = [job.window.width];
    elements.VOILUTFunction = job.window.function ?? 'LINEAR';
  }
  return elements;
}

function numberOf(elements: Record<string, unknown>, name: string): number {
  const v = elements[name];
  return typeof v === 'number' ? v : Number(v);
}

/** Interleaved samples of `bits` bits (16 or 32, little endian) to their top 8 stored bits. */
function toEightBits(samples: Uint8Array, bitsAllocated: number, bitsStored: number): ArrayBuffer {
  const bytes = bitsAllocated / 8;
  const n = Math.floor(samples.byteLength / bytes);
  const view = new DataView(samples.buffer, samples.byteOffset, samples.byteLength);
  const shift = Math.max(0, bitsStored - 8);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = bytes === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
    out[i] = Math.min(255, Math.floor(v / 2 ** shift));
  }
  return out.buffer;
}

/**
 * Colour frames that dcmjs-imaging gets wrong become native, interleaved, 8-bit frames for it to
 * render: decoded with dcmjs-codecs when compressed (JPEG baseline excepted: dcmjs-imaging converts
 * its colour space itself), and reduced to their top 8 bits when deeper. Returns the syntax to
 * render the elements with.
 */
function prepareColour(elements: Record<string, unknown>, job: RenderPixelsJob): string {
  const width = numberOf(elements, 'Columns');
  const height = numberOf(elements, 'Rows');
  const bitsAllocated = numberOf(elements, 'BitsAllocated');
  const bitsStored = numberOf(elements, 'BitsStored') || bitsAllocated;
  const photometric = String(elements.PhotometricInterpretation ?? '');
  const method = job.encapsulated ? COLOUR_DECODERS[job.transferSyntaxUid] : undefined;
  if (job.encapsulated && !method) return job.transferSyntaxUid;
  if (!job.encapsulated && (bitsAllocated <= 8 || photometric.endsWith('422')))
    return EXPLICIT_VR_LITTLE_ENDIAN;
  let samples = job.frame;
  if (method) {
    const decoded = codecs.NativeCodecs[method](
      new codecs.Context({
        width,
        height,
        bitsAllocated,
        bitsStored,
        samplesPerPixel: 3,
        pixelRepresentation: numberOf(elements, 'PixelRepresentation') || 0,
        planarConfiguration: 0,
        photometricInterpretation: photometric,
        encodedBuffer: job.frame,
      }),
    ).getDecodedBuffer();
    const expected = (width * height * 3 * bitsAllocated) / 8;
    if (!decoded || decoded.byteLength < expected) {
      throw new Error(`the decoder returned ${decoded?.byteLength ?? 0} bytes for ${expected}`);
    }
    samples = decoded.subarray(0, expected);
    elements.PlanarConfiguration = 0;
    // The JPEG 2000 decoder undoes the multi-component transform.
    if (photometric === 'YBR_RCT' || photometric === 'YBR_ICT') elements.PhotometricInterpretation = 'RGB';
  }
  if (bitsAllocated > 8) {
    if (elements.PlanarConfiguration === 1) throw new Error('planar colour deeper than 8 bits');
    elements.PixelData = [toEightBits(samples, bitsAllocated, bitsStored)];
    Object.assign(elements, { BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0 });
  } else {
    elements.PixelData = [samples.slice().buffer];
  }
  return EXPLICIT_VR_LITTLE_ENDIAN;
}

/**
 * Decodes the frame and applies the modality LUT (rescale), the VOI LUT (the request's window, else
 * the dataset's first window, else the frame's min/max) and the photometric interpretation
 * (MONOCHROME1 inverted, YBR converted, palette colour looked up). Monochrome images come back as one
 * channel, colour as RGB. Never throws: a frame that cannot be decoded is `ok: false` with why.
 */
export function renderPixels(job: RenderPixelsJob): RenderedPixels {
  try {
    const elements = elementsOf(job);
    const width = numberOf(elements, 'Columns');
    const height = numberOf(elements, 'Rows');
    if (!(width > 0 && height > 0)) return { ok: false, message: 'the header gives no Rows and Columns' };
    if (width * height > MAX_RENDER_PIXELS) {
      return { ok: false, message: `${width}x${height} is larger than this server renders` };
    }
    const syntax =
      numberOf(elements, 'SamplesPerPixel') === 3
        ? prepareColour(elements, job)
        : job.encapsulated
          ? job.transferSyntaxUid
          : EXPLICIT_VR_LITTLE_ENDIAN;
    const image = new imaging.DicomImage(elements, syntax);
    const rendered = image.render({ frame: 0, renderOverlays: false });
    const rgba = new Uint8Array(rendered.pixels);
    const photometric = String(elements.PhotometricInterpretation ?? '').trim();
    const channels = photometric.startsWith('MONOCHROME') ? 1 : 3;
    const n = rendered.width * rendered.height;
    const pixels = new Uint8Array(n * channels);
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      if (channels === 1) pixels[i] = rgba[p]!;
      else {
        pixels[i * 3] = rgba[p]!;
        pixels[i * 3 + 1] = rgba[p + 1]!;
        pixels[i * 3 + 2] = rgba[p + 2]!;
      }
    }
    return { ok: true, width: rendered.width, height: rendered.height, channels, pixels };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, message: message.replace(/\s+/g, ' ').trim().slice(0, 200) };
  }
}

/** A decode job: the frames of one instance, all in one transfer syntax. */
export interface DecodeJob {
  /** The NativeCodecs method, e.g. `decodeJpegLs`. */
  method: string;
  /** One compressed bitstream per frame. */
  frames: Uint8Array[];
  /** The codec Context attributes: width, height, bitsAllocated, bitsStored, samplesPerPixel, … */
  context: Record<string, number | string>;
}

export type DecodedFrames = { ok: true; frames: Uint8Array[] } | { ok: false; message: string };

/** The native bytes of each frame, in order. Never throws: a failure is `ok: false` with why. */
export function decodeNative(job: DecodeJob): DecodedFrames {
  try {
    const fn = codecs.NativeCodecs[job.method];
    if (typeof fn !== 'function') return { ok: false, message: `no decoder ${job.method}` };
    const out: Uint8Array[] = [];
    for (const encoded of job.frames) {
      const context = new codecs.Context({ ...job.context, encodedBuffer: encoded });
      // Components as stored (no YCbCr to RGB): a lossless transcode must not change sample values.
      const decoded = fn
        .call(codecs.NativeCodecs, context, { convertColorspaceToRgb: false })
        .getDecodedBuffer();
      if (!decoded) return { ok: false, message: 'the decoder returned no pixels' };
      // Copied out of the WebAssembly heap, which the next decode reuses.
      out.push(Uint8Array.from(decoded));
    }
    return { ok: true, frames: out };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** Messages between codec-pool.ts and a worker. */
export type CodecJob = { kind: 'render'; job: RenderPixelsJob } | { kind: 'decode'; job: DecodeJob };
export interface CodecRequest {
  id: number;
  job: CodecJob;
}
export interface CodecReply {
  id: number;
  result: RenderedPixels | DecodedFrames;
}

export const CODEC_WORKER_ROLE = 'ferry-codec-worker';

/** The buffers a result hands over to the other thread instead of copying them. */
export function transferablesOf(result: RenderedPixels | DecodedFrames): ArrayBuffer[] {
  if (!result.ok) return [];
  return 'pixels' in result ? [result.pixels.buffer] : result.frames.map((f) => f.buffer as ArrayBuffer);
}

function run(job: CodecJob): RenderedPixels | DecodedFrames {
  return job.kind === 'render' ? renderPixels(job.job) : decodeNative(job.job);
}

if (!isMainThread && parentPort && workerData === CODEC_WORKER_ROLE) {
  const port = parentPort;
  const ready = initCodecs();
  port.on('message', (msg: CodecRequest) => {
    void ready.then(
      () => {
        const result = run(msg.job);
        port.postMessage({ id: msg.id, result } satisfies CodecReply, transferablesOf(result));
      },
      (err: unknown) => {
        const message = `the image codecs could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
        port.postMessage({ id: msg.id, result: { ok: false, message } } satisfies CodecReply);
      },
    );
  });
}
