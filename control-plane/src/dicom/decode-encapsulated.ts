/**
 * Decodes the frames of encapsulated Pixel Data (split by the offset table, or by codestream starts)
 * in the codec workers and writes the dataset back as native.
 */
import { FerryError } from '@ferry/shared';
import { decodeFrames } from './codec-pool.js';
import {
  Chunks,
  EXPLICIT_LE,
  elementEnd,
  elementHeader,
  type Header,
  malformed,
  PIXEL_DATA,
  readHeader,
  skipItems,
  valueBytes,
} from './element-bytes.js';
import { newPixelModule, notePixelAttribute } from './pixel-module.js';
import { DECODERS } from './transcode-syntaxes.js';
import { ITEM_TAG, SEQUENCE_END_TAG, UNDEFINED_LENGTH } from './vr.js';

/** Splits encapsulated Pixel Data into its frames' bitstreams (PS3.5 A.4). */
function splitFrames(buf: Buffer, h: Header, frames: number, ts: string): Buffer[] {
  let pos = h.valueStart;
  const bot = readHeader(buf, pos, EXPLICIT_LE);
  if (bot.tag !== ITEM_TAG) throw malformed(pos, 'encapsulated pixel data without an offset table');
  const offsets: number[] = [];
  for (let i = 0; i + 4 <= bot.length; i += 4) offsets.push(buf.readUInt32LE(bot.valueStart + i));
  pos = bot.valueStart + bot.length;
  const firstItem = pos;
  const fragments: { at: number; bytes: Buffer }[] = [];
  for (;;) {
    const item = readHeader(buf, pos, EXPLICIT_LE);
    if (item.tag === SEQUENCE_END_TAG) break;
    if (item.tag !== ITEM_TAG || item.length === UNDEFINED_LENGTH) throw malformed(pos, 'bad fragment');
    fragments.push({ at: pos - firstItem, bytes: valueBytes(buf, item) });
    pos = item.valueStart + item.length;
  }
  const groups: Buffer[][] = [];
  if (frames === 1) groups.push(fragments.map((f) => f.bytes));
  else if (offsets.length === frames) {
    for (const _ of offsets) groups.push([]);
    for (const f of fragments) {
      let n = 0;
      while (n + 1 < offsets.length && f.at >= offsets[n + 1]!) n++;
      groups[n]!.push(f.bytes);
    }
  } else if (fragments.length === frames) for (const f of fragments) groups.push([f.bytes]);
  else {
    // No offset table: a frame starts with its codestream's start marker (JPEG SOI, J2K SOC).
    const starts = (b: Buffer) =>
      b.length >= 2 &&
      b[0] === 0xff &&
      (b[1] === 0xd8 || b[1] === 0x4f || (ts.endsWith('.110') && b[1] === 0x0a));
    for (const f of fragments) {
      if (groups.length === 0 || starts(f.bytes)) groups.push([f.bytes]);
      else groups[groups.length - 1]!.push(f.bytes);
    }
  }
  if (groups.length !== frames || groups.some((g) => g.length === 0)) {
    throw new FerryError(
      'dicomweb.cannot_decode',
      `the encapsulated pixel data holds ${groups.length} frames where Number of Frames says ${frames}`,
    );
  }
  return groups.map((g) => (g.length === 1 ? g[0]! : Buffer.concat(g)));
}

function csValue(text: string): Buffer {
  return Buffer.from(text.length % 2 === 0 ? text : `${text} `, 'latin1');
}

/**
 * Decodes the frames of an encapsulated (explicit VR little endian) dataset and writes it back as
 * native: Pixel Data replaced, Photometric Interpretation and Planar Configuration updated when the
 * decoder changed them, the extended offset table dropped, everything else copied byte for byte.
 */
export async function decodeDataset(ds: Buffer, ts: string, maxBytes: number): Promise<Buffer> {
  const px = newPixelModule();
  const elements: { h: Header; start: number; end: number }[] = [];
  let pixel: Header | undefined;
  for (let pos = 0; pos < ds.length; ) {
    const h = readHeader(ds, pos, EXPLICIT_LE);
    const end = h.tag === PIXEL_DATA ? pos : elementEnd(ds, h, EXPLICIT_LE);
    if (h.tag === PIXEL_DATA) {
      pixel = h;
      const pixelEnd =
        h.length === UNDEFINED_LENGTH ? skipItems(ds, h.valueStart, EXPLICIT_LE) : h.valueStart + h.length;
      elements.push({ h, start: pos, end: pixelEnd });
      pos = pixelEnd;
      continue;
    }
    if (h.length !== UNDEFINED_LENGTH && h.vr !== 'SQ') notePixelAttribute(px, h.tag, valueBytes(ds, h));
    elements.push({ h, start: pos, end });
    pos = end;
  }
  if (!pixel || pixel.length !== UNDEFINED_LENGTH) {
    // Nothing encapsulated to decode (no pixels, an SR or a plan): the dataset is already native.
    return ds;
  }
  const bytesPerSample = px.bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || bytesPerSample < 1 || px.rows < 1 || px.columns < 1) {
    throw new FerryError(
      'dicomweb.cannot_decode',
      `cannot decode ${px.bitsAllocated}-bit pixels of ${px.rows}x${px.columns}`,
    );
  }
  const frameBytes = px.rows * px.columns * px.samplesPerPixel * bytesPerSample;
  if (frameBytes * px.numberOfFrames > maxBytes) {
    throw new FerryError(
      'dicomweb.cannot_transcode',
      `the decoded pixel data would take ${frameBytes * px.numberOfFrames} bytes, over this server's transcoding limit of ${maxBytes}; ask for transfer-syntax=* (as stored)`,
    );
  }
  const encoded = splitFrames(ds, pixel, px.numberOfFrames, ts);
  const method = DECODERS[ts];
  const decoded: Uint8Array[] = method
    ? await decodeFrames({
        method,
        frames: encoded,
        context: {
          width: px.columns,
          height: px.rows,
          bitsAllocated: px.bitsAllocated,
          bitsStored: px.bitsStored,
          samplesPerPixel: px.samplesPerPixel,
          pixelRepresentation: px.pixelRepresentation,
          planarConfiguration: px.planarConfiguration,
          photometricInterpretation: px.photometricInterpretation,
        },
      })
    : encoded;
  const frames = decoded.map((f, i) => {
    // An 8-bit codestream for 16 allocated bits (JPEG): widened to 16-bit little endian samples.
    if (f.length * 2 === frameBytes && bytesPerSample === 2) {
      const wide = Buffer.alloc(frameBytes);
      for (let j = 0; j < f.length; j++) wide[j * 2] = f[j]!;
      return wide;
    }
    if (f.length < frameBytes) {
      throw new FerryError(
        'dicomweb.cannot_decode',
        `frame ${i + 1} decoded to ${f.length} bytes where ${frameBytes} were expected`,
      );
    }
    return Buffer.from(f.buffer, f.byteOffset, frameBytes);
  });
  let total = frameBytes * frames.length;
  if (total % 2 === 1) {
    frames.push(Buffer.alloc(1));
    total++;
  }
  // The JPEG 2000 decoder undoes the multi-component transform: the samples come out as RGB.
  const photometric =
    px.photometricInterpretation === 'YBR_RCT' || px.photometricInterpretation === 'YBR_ICT'
      ? 'RGB'
      : px.photometricInterpretation;
  const out = new Chunks();
  for (const { h, start, end } of elements) {
    if (h.tag === PIXEL_DATA) {
      out.push(elementHeader(PIXEL_DATA, bytesPerSample > 1 ? 'OW' : 'OB', total), ...frames);
    } else if (h.tag === 0x00280004 && photometric !== px.photometricInterpretation) {
      const v = csValue(photometric);
      out.push(elementHeader(h.tag, 'CS', v.length), v);
    } else if (h.tag === 0x7fe00001 || h.tag === 0x7fe00002) {
      // The extended offset table only describes encapsulated pixel data.
    } else out.push(ds.subarray(start, end));
  }
  return Buffer.concat(out.parts, out.size);
}
