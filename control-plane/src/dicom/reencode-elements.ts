/**
 * Re-encodes implicit VR little endian or explicit VR big endian datasets as explicit VR little
 * endian: every value's bytes carried over (byte-swapped per VR from big endian), only the headers
 * rewritten, the VRs of implicit elements taken from the data dictionary.
 */
import { dcmjs } from './dcmjs.js';
import {
  Chunks,
  type Encoding,
  elementHeader,
  type Header,
  hex,
  itemTag,
  malformed,
  PIXEL_DATA,
  readHeader,
  valueBytes,
} from './element-bytes.js';
import { notePixelAttribute, type PixelModule } from './pixel-module.js';
import { ITEM_END_TAG, ITEM_TAG, LONG_LENGTH_VRS, SEQUENCE_END_TAG, UNDEFINED_LENGTH } from './vr.js';

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
export function convertElements(
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
