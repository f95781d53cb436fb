/**
 * Lossless transcoding of a whole Part-10 instance to Explicit VR Little Endian (or its deflated
 * form), for WADO-RS retrieves that do not ask for the stored syntax (PS3.18 8.7.3.4).
 *
 * Works on the bytes, not on a parsed-and-rewritten dataset: every element other than Pixel Data is
 * carried over with its value bytes untouched (only re-headed from implicit VR, or byte-swapped from
 * big endian per VR), so nothing a DICOM library would "normalise" (numbers, dates, padding, private
 * tags) changes. Compressed frames are decoded by the codecs in a worker thread (codec-pool.ts).
 * Needs the instance in memory: callers cap its size (maxBytes).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { FerryError, TS } from '@ferry/shared';
import { decodeFrames } from './codec-pool.js';
import { dcmjs } from './dcmjs.js';
import { ITEM_END_TAG, ITEM_TAG, LONG_LENGTH_VRS, SEQUENCE_END_TAG, UNDEFINED_LENGTH } from './vr.js';

const ELE = TS.ExplicitVRLittleEndian;
const DEFLATED = TS.DeflatedExplicitVRLittleEndian;
const ENCAPSULATED_UNCOMPRESSED = '1.2.840.10008.1.2.1.98';

/** What this module writes. */
export const TRANSCODE_TARGETS: ReadonlySet<string> = new Set([ELE, DEFLATED]);

/** Lossless compressed syntaxes and the NativeCodecs method that decodes their frames. */
const DECODERS: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.5': 'decodeRle',
  '1.2.840.10008.1.2.4.57': 'decodeJpeg',
  '1.2.840.10008.1.2.4.70': 'decodeJpeg',
  '1.2.840.10008.1.2.4.80': 'decodeJpegLs',
  '1.2.840.10008.1.2.4.90': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.110': 'decodeJpegXl',
  '1.2.840.10008.1.2.4.201': 'decodeHtJpeg2000',
  '1.2.840.10008.1.2.4.202': 'decodeHtJpeg2000',
};

/**
 * Syntaxes whose pixels are (or may be) lossy: JPEG baseline/extended, JPEG-LS near-lossless, JPEG
 * 2000 and HTJ2K (lossy allowed), JPEG XL (lossy, JPEG recompression) and the video syntaxes.
 */
const LOSSY = new Set([
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.93',
  '1.2.840.10008.1.2.4.111',
  '1.2.840.10008.1.2.4.112',
  '1.2.840.10008.1.2.4.203',
  ...Array.from({ length: 9 }, (_, i) => `1.2.840.10008.1.2.4.${100 + i}`),
]);

export function isLossySyntax(ts: string): boolean {
  return LOSSY.has(ts);
}

/** True when transcodeInstance can turn an instance stored as `ts` into ELE without loss. */
export function canTranscodeLosslessly(ts: string): boolean {
  return (
    ts === ELE ||
    ts === DEFLATED ||
    ts === TS.ImplicitVRLittleEndian ||
    ts === TS.ExplicitVRBigEndian ||
    ts === ENCAPSULATED_UNCOMPRESSED ||
    DECODERS[ts] !== undefined
  );
}

const SWAP: Readonly<Record<string, 2 | 4 | 8>> = {
  AT: 2,
  OW: 2,
  SS: 2,
  US: 2,
  FL: 4,
  OF: 4,
  OL: 4,
  SL: 4,
  UL: 4,
  FD: 8,
  OD: 8,
  OV: 8,
  SV: 8,
  UV: 8,
};
const PIXEL_DATA = 0x7fe00010;

interface Encoding {
  explicit: boolean;
  little: boolean;
}
const EXPLICIT_LE: Encoding = { explicit: true, little: true };
const IMPLICIT_LE: Encoding = { explicit: false, little: true };

interface Header {
  tag: number;
  group: number;
  element: number;
  /** As written; undefined in implicit VR and for items and delimiters. */
  vr: string | undefined;
  length: number;
  valueStart: number;
}

function malformed(at: number, why: string): FerryError {
  return new FerryError('dicomweb.cannot_decode', `the stored instance is malformed at byte ${at}: ${why}`);
}

function readHeader(buf: Buffer, pos: number, enc: Encoding): Header {
  if (pos + 8 > buf.length) throw malformed(pos, 'truncated element header');
  const group = enc.little ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
  const element = enc.little ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
  const tag = ((group << 16) | element) >>> 0;
  const u32 = (at: number) => (enc.little ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  if (group === 0xfffe || !enc.explicit) {
    return { tag, group, element, vr: undefined, length: u32(pos + 4), valueStart: pos + 8 };
  }
  const vr = buf.toString('latin1', pos + 4, pos + 6);
  if (LONG_LENGTH_VRS.has(vr)) {
    if (pos + 12 > buf.length) throw malformed(pos, 'truncated element header');
    return { tag, group, element, vr, length: u32(pos + 8), valueStart: pos + 12 };
  }
  const length = enc.little ? buf.readUInt16LE(pos + 6) : buf.readUInt16BE(pos + 6);
  return { tag, group, element, vr, length, valueStart: pos + 8 };
}

function valueBytes(buf: Buffer, h: Header): Buffer {
  const end = h.valueStart + h.length;
  if (end > buf.length)
    throw malformed(h.valueStart, `value of (${hex(h.group)},${hex(h.element)}) runs past the end`);
  return buf.subarray(h.valueStart, end);
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');

/** The position after an element, also when its length is undefined (sequences, encapsulated data). */
function elementEnd(buf: Buffer, h: Header, enc: Encoding): number {
  if (h.length !== UNDEFINED_LENGTH) return h.valueStart + h.length;
  // An undefined-length UN holds an implicit VR little endian sequence (PS3.5 6.2.2).
  return skipItems(buf, h.valueStart, h.vr === 'UN' ? IMPLICIT_LE : enc);
}

function skipItems(buf: Buffer, pos: number, enc: Encoding): number {
  for (;;) {
    const item = readHeader(buf, pos, enc);
    if (item.tag === SEQUENCE_END_TAG) return item.valueStart;
    if (item.tag !== ITEM_TAG) throw malformed(pos, 'expected an item');
    if (item.length !== UNDEFINED_LENGTH) pos = item.valueStart + item.length;
    else {
      pos = item.valueStart;
      for (;;) {
        const h = readHeader(buf, pos, enc);
        if (h.tag === ITEM_END_TAG) {
          pos = h.valueStart;
          break;
        }
        pos = elementEnd(buf, h, enc);
      }
    }
  }
}

function elementHeader(tag: number, vr: string, length: number): Buffer {
  const long = LONG_LENGTH_VRS.has(vr);
  const b = Buffer.alloc(long ? 12 : 8);
  b.writeUInt16LE(tag >>> 16, 0);
  b.writeUInt16LE(tag & 0xffff, 2);
  b.write(vr, 4, 'latin1');
  if (long) b.writeUInt32LE(length, 8);
  else b.writeUInt16LE(length, 6);
  return b;
}

function itemTag(element: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0xfffe, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return b;
}

class Chunks {
  readonly parts: Buffer[] = [];
  size = 0;
  push(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.parts.push(b);
      this.size += b.length;
    }
  }
}

/** Pixel module attributes met at the top level, which the pixel data's encoding depends on. */
interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
  numberOfFrames: number;
}

function newPixelModule(): PixelModule {
  return {
    rows: 0,
    columns: 0,
    samplesPerPixel: 1,
    bitsAllocated: 0,
    bitsStored: 0,
    pixelRepresentation: 0,
    planarConfiguration: 0,
    photometricInterpretation: '',
    numberOfFrames: 1,
  };
}

/** Records a top-level pixel module attribute from its little endian value. */
function notePixelAttribute(px: PixelModule, tag: number, v: Buffer): void {
  const us = () => (v.length >= 2 ? v.readUInt16LE(0) : 0);
  const text = () =>
    v
      .toString('latin1')
      .replace(/[\0 ]+$/, '')
      .trim();
  switch (tag) {
    case 0x00280002:
      px.samplesPerPixel = us();
      break;
    case 0x00280004:
      px.photometricInterpretation = text();
      break;
    case 0x00280006:
      px.planarConfiguration = us();
      break;
    case 0x00280008:
      px.numberOfFrames = Math.max(1, Number.parseInt(text(), 10) || 1);
      break;
    case 0x00280010:
      px.rows = us();
      break;
    case 0x00280011:
      px.columns = us();
      break;
    case 0x00280100:
      px.bitsAllocated = us();
      break;
    case 0x00280101:
      px.bitsStored = us();
      break;
    case 0x00280103:
      px.pixelRepresentation = us();
      break;
  }
}

/** The VR of an implicit VR element, from the data dictionary (PS3.6); UN when unknown. */
function implicitVr(h: Header, px: PixelModule): string {
  if (h.element === 0x0000) return 'UL';
  if (h.group % 2 === 1) return h.element >= 0x0010 && h.element <= 0x00ff ? 'LO' : 'UN';
  const vr = dcmjs.data.DicomMetaDictionary.dictionary[`(${hex(h.group)},${hex(h.element)})`]?.vr;
  switch (vr) {
    case undefined:
    case 'na':
      return 'UN';
    case 'up':
      return 'UL';
    case 'xs':
      return px.pixelRepresentation === 1 ? 'SS' : 'US';
    case 'ox':
    case 'lt':
      return 'OW';
    default:
      return vr;
  }
}

/** A little endian copy of a big endian value (none needed for byte and string VRs). */
function swapped(value: Buffer, unit: number): Buffer {
  if (unit < 2 || value.length % unit !== 0) return value;
  const b = Buffer.from(value);
  if (unit === 2) b.swap16();
  else if (unit === 4) b.swap32();
  else b.swap64();
  return b;
}

/**
 * Re-encodes implicit VR little endian or explicit VR big endian elements as explicit VR little
 * endian, from `pos` to `end`, or up to the item delimiter when `end` is undefined (its position is
 * returned, the delimiter not written).
 */
function convertElements(
  buf: Buffer,
  pos: number,
  end: number | undefined,
  enc: Encoding,
  px: PixelModule,
  depth: number,
  out: Chunks,
): number {
  while (end === undefined || pos < end) {
    const h = readHeader(buf, pos, enc);
    if (h.tag === ITEM_END_TAG) {
      if (end === undefined) return pos;
      throw malformed(pos, 'item delimiter outside an item');
    }
    let vr = h.vr ?? implicitVr(h, px);
    if (vr === 'SQ' || (h.vr === undefined && h.length === UNDEFINED_LENGTH)) {
      pos = convertSequence(buf, h, enc, px, depth, out);
      continue;
    }
    if (h.length === UNDEFINED_LENGTH) throw malformed(pos, `undefined length for ${vr}`);
    let value = valueBytes(buf, h);
    if (h.tag === PIXEL_DATA && depth === 0) {
      if (vr !== 'OB' && vr !== 'OW') vr = px.bitsAllocated > 8 ? 'OW' : 'OB';
      // Big endian pixel samples are swapped per sample, whatever the VR says (as pydicom reads them).
      if (!enc.little) value = swapped(value, px.bitsAllocated >= 16 ? px.bitsAllocated / 8 : 1);
    } else if (!enc.little) value = swapped(value, SWAP[vr] ?? 1);
    if (depth === 0) notePixelAttribute(px, h.tag, value);
    // A value too long for a 16-bit length (implicit VR allows it) can only be written as UN.
    if (!LONG_LENGTH_VRS.has(vr) && value.length > 0xfffe) vr = 'UN';
    out.push(elementHeader(h.tag, vr, value.length), value);
    pos = h.valueStart + h.length;
  }
  return pos;
}

function convertSequence(
  buf: Buffer,
  h: Header,
  enc: Encoding,
  px: PixelModule,
  depth: number,
  out: Chunks,
): number {
  const body = new Chunks();
  const end = h.length === UNDEFINED_LENGTH ? undefined : h.valueStart + h.length;
  let pos = h.valueStart;
  while (end === undefined || pos < end) {
    const item = readHeader(buf, pos, enc);
    if (item.tag === SEQUENCE_END_TAG) {
      pos = item.valueStart;
      break;
    }
    if (item.tag !== ITEM_TAG) throw malformed(pos, 'expected an item');
    const content = new Chunks();
    if (item.length === UNDEFINED_LENGTH) {
      pos = convertElements(buf, item.valueStart, undefined, enc, px, depth + 1, content) + 8;
      body.push(itemTag(0xe000, UNDEFINED_LENGTH), ...content.parts, itemTag(0xe00d, 0));
    } else {
      pos = convertElements(buf, item.valueStart, item.valueStart + item.length, enc, px, depth + 1, content);
      body.push(itemTag(0xe000, content.size), ...content.parts);
    }
  }
  if (end === undefined)
    out.push(elementHeader(h.tag, 'SQ', UNDEFINED_LENGTH), ...body.parts, itemTag(0xe0dd, 0));
  else out.push(elementHeader(h.tag, 'SQ', body.size), ...body.parts);
  return pos;
}

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
async function decodeDataset(ds: Buffer, ts: string, maxBytes: number): Promise<Buffer> {
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

/** Rewrites the file meta group: the new transfer syntax, and its group length recomputed. */
function rewriteMeta(meta: Buffer, ts: string): Buffer {
  const kept: Buffer[] = [];
  for (let pos = 0; pos < meta.length; ) {
    const h = readHeader(meta, pos, EXPLICIT_LE);
    const end = elementEnd(meta, h, EXPLICIT_LE);
    if (h.tag === 0x00020010) {
      const uid = Buffer.from(ts.length % 2 === 0 ? ts : `${ts}\0`, 'latin1');
      kept.push(elementHeader(h.tag, 'UI', uid.length), uid);
    } else if (h.tag !== 0x00020000) kept.push(meta.subarray(pos, end));
    pos = end;
  }
  const body = Buffer.concat(kept);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([elementHeader(0x00020000, 'UL', 4), length, body]);
}

/** Where the dataset starts and which syntax it is in, from the file meta group. */
function readMeta(part10: Buffer): { metaEnd: number; ts: string } {
  if (part10.length < 132 || part10.toString('latin1', 128, 132) !== 'DICM') {
    throw new FerryError('dicomweb.cannot_decode', 'the stored instance has no Part-10 file meta header');
  }
  let pos = 132;
  let ts: string | undefined;
  while (pos + 8 <= part10.length && part10.readUInt16LE(pos) === 0x0002) {
    const h = readHeader(part10, pos, EXPLICIT_LE);
    if (h.tag === 0x00020010)
      ts = valueBytes(part10, h)
        .toString('latin1')
        .replace(/[\0 ]+$/, '');
    pos = elementEnd(part10, h, EXPLICIT_LE);
  }
  if (!ts) throw new FerryError('dicomweb.cannot_decode', 'the stored instance names no transfer syntax');
  return { metaEnd: pos, ts };
}

/**
 * The instance as `target` (ELE or deflated ELE), losslessly. Throws dicomweb.cannot_decode for a
 * syntax or pixel layout it cannot decode, dicomweb.cannot_transcode when the result would exceed
 * `maxBytes` or the stored pixels are lossy.
 */
export async function transcodeInstance(
  part10: Buffer,
  target: string,
  opts: { maxBytes: number },
): Promise<Buffer> {
  if (!TRANSCODE_TARGETS.has(target)) {
    throw new FerryError('request.not_acceptable', `this server does not encode ${target}`);
  }
  const { metaEnd, ts } = readMeta(part10);
  if (isLossySyntax(ts)) {
    throw new FerryError(
      'dicomweb.cannot_transcode',
      `the instance is stored lossy-compressed as ${ts}; ask for that transfer syntax or transfer-syntax=*`,
    );
  }
  if (!canTranscodeLosslessly(ts)) {
    throw new FerryError('dicomweb.cannot_decode', `this server cannot decode transfer syntax ${ts}`);
  }
  let ds = part10.subarray(metaEnd);
  if (ts === DEFLATED) {
    try {
      ds = inflateRawSync(ds, { maxOutputLength: maxBytesFor(opts.maxBytes) });
    } catch (err) {
      if (err instanceof RangeError) {
        throw new FerryError(
          'dicomweb.cannot_transcode',
          `the inflated dataset would exceed this server's transcoding limit of ${opts.maxBytes} bytes; ask for transfer-syntax=*`,
        );
      }
      throw new FerryError('dicomweb.cannot_decode', `the deflated dataset does not inflate: ${String(err)}`);
    }
  } else if (ts === TS.ImplicitVRLittleEndian || ts === TS.ExplicitVRBigEndian) {
    const out = new Chunks();
    convertElements(
      ds,
      0,
      ds.length,
      ts === TS.ImplicitVRLittleEndian ? IMPLICIT_LE : { explicit: true, little: false },
      newPixelModule(),
      0,
      out,
    );
    ds = Buffer.concat(out.parts, out.size);
  } else if (ts !== ELE) {
    ds = await decodeDataset(ds, ts, opts.maxBytes);
  }
  if (target === DEFLATED) ds = deflateRawSync(ds);
  return Buffer.concat([
    part10.subarray(0, 128),
    Buffer.from('DICM', 'latin1'),
    rewriteMeta(part10.subarray(132, metaEnd), target),
    ds,
  ]);
}

function maxBytesFor(n: number): number {
  return Math.max(1, Math.min(n, 2 ** 31 - 1));
}

/** The default cap on what one transcode holds in memory: the stored instance, and the result. */
export const TRANSCODE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Reads a stored instance whole (transcoding needs all of it) and transcodes it. Refuses
 * (dicomweb.cannot_transcode) as soon as more than `maxBytes` arrive, before holding them all.
 */
export async function transcodeStream(
  source: AsyncIterable<Uint8Array>,
  target: string,
  opts: { maxBytes: number },
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > opts.maxBytes) throw overLimit(opts.maxBytes);
    chunks.push(chunk);
  }
  return transcodeInstance(Buffer.concat(chunks, size), target, opts);
}

export function overLimit(maxBytes: number): FerryError {
  return new FerryError(
    'dicomweb.cannot_transcode',
    `the instance is larger than this server transcodes (${maxBytes} bytes); ask for transfer-syntax=* (as stored)`,
  );
}
