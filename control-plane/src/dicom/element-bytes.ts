/**
 * The element-level byte layout transcoding works on: reading element headers in any of the three
 * uncompressed encodings, finding where an element ends, and writing explicit VR little endian headers
 * and items. Values are never parsed here, only located.
 */
import { FerryError } from '@ferry/shared';
import { ITEM_END_TAG, ITEM_TAG, LONG_LENGTH_VRS, SEQUENCE_END_TAG, UNDEFINED_LENGTH } from './vr.js';

export const PIXEL_DATA = 0x7fe00010;

export interface Encoding {
  explicit: boolean;
  little: boolean;
}
export const EXPLICIT_LE: Encoding = { explicit: true, little: true };
export const IMPLICIT_LE: Encoding = { explicit: false, little: true };

export interface Header {
  tag: number;
  group: number;
  element: number;
  /** As written; undefined in implicit VR and for items and delimiters. */
  vr: string | undefined;
  length: number;
  valueStart: number;
}

export function malformed(at: number, why: string): FerryError {
  return new FerryError('dicomweb.cannot_decode', `the stored instance is malformed at byte ${at}: ${why}`);
}

export function readHeader(buf: Buffer, pos: number, enc: Encoding): Header {
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

export function valueBytes(buf: Buffer, h: Header): Buffer {
  const end = h.valueStart + h.length;
  if (end > buf.length)
    throw malformed(h.valueStart, `value of (${hex(h.group)},${hex(h.element)}) runs past the end`);
  return buf.subarray(h.valueStart, end);
}

export const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');

/** The position after an element, also when its length is undefined (sequences, encapsulated data). */
export function elementEnd(buf: Buffer, h: Header, enc: Encoding): number {
  if (h.length !== UNDEFINED_LENGTH) return h.valueStart + h.length;
  // An undefined-length UN holds an implicit VR little endian sequence (PS3.5 6.2.2).
  return skipItems(buf, h.valueStart, h.vr === 'UN' ? IMPLICIT_LE : enc);
}

export function skipItems(buf: Buffer, pos: number, enc: Encoding): number {
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

export function elementHeader(tag: number, vr: string, length: number): Buffer {
  const long = LONG_LENGTH_VRS.has(vr);
  const b = Buffer.alloc(long ? 12 : 8);
  b.writeUInt16LE(tag >>> 16, 0);
  b.writeUInt16LE(tag & 0xffff, 2);
  b.write(vr, 4, 'latin1');
  if (long) b.writeUInt32LE(length, 8);
  else b.writeUInt16LE(length, 6);
  return b;
}

export function itemTag(element: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0xfffe, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return b;
}

/** Buffers to concatenate once, with their total size (an item's or a sequence's length). */
export class Chunks {
  readonly parts: Buffer[] = [];
  size = 0;
  push(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.parts.push(b);
      this.size += b.length;
    }
  }
}
