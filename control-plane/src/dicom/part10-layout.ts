/**
 * Where the values of a Part-10 file lie, found in one streaming pass that keeps offsets, never
 * values: the top-level Pixel Data (for native syntaxes its frames by arithmetic, for encapsulated ones
 * its fragments grouped into frames) and every binary value above MAX_INLINE_BINARY_BYTES, also inside
 * sequences, by the same path the stored header's BulkDataURI placeholders use (dicom-json.ts).
 *
 * Offsets are in the file's own bytes, except for the deflated syntax, whose dataset is indexed as
 * inflated: its offsets count the File Meta Information and then the inflated dataset.
 */
import { Readable, type Transform } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { FerryError, isEncapsulated, TS } from '@ferry/shared';
import { ByteCursor } from './byte-cursor.js';
import { dcmjs } from './dcmjs.js';
import { MAX_INLINE_BINARY_BYTES } from './dicom-json.js';
import {
  BINARY_VRS,
  ITEM_END_TAG,
  ITEM_TAG,
  LONG_LENGTH_VRS,
  SEQUENCE_END_TAG,
  UNDEFINED_LENGTH,
} from './vr.js';

export interface ByteSpan {
  offset: number;
  length: number;
}

export interface NativePixels {
  kind: 'native';
  vr: string;
  /** The Pixel Data value. */
  value: ByteSpan;
  /** Bits per frame (frames of BitsAllocated 1 need not start on a byte). */
  frameBits: number;
  bitsAllocated: number;
  numberOfFrames: number;
}

export interface EncapsulatedPixels {
  kind: 'encapsulated';
  /** Each frame's fragments, in order. */
  frames: ByteSpan[][];
  numberOfFrames: number;
}

export interface BulkValue extends ByteSpan {
  vr: string;
}

export interface Part10Layout {
  transferSyntaxUid: string;
  littleEndian: boolean;
  deflated: boolean;
  /** Where the dataset starts (after the File Meta Information): a deflated file is inflated from there. */
  datasetStart: number;
  pixels: NativePixels | EncapsulatedPixels | undefined;
  /** Binary values above the inline threshold by path (`tag`, `tag/item/tag`…), Pixel Data aside. */
  bulk: Map<string, BulkValue>;
}

const MAX_DEPTH = 16;
const MAX_BULK_VALUES = 10_000;
const MAX_OFFSET_TABLE_BYTES = 16 << 20;
/** Fragment offsets kept for one Pixel Data: bounds the index of a hostile file. */
const MAX_FRAGMENTS = 1 << 20;
/** Top-level attributes whose values the frame layout needs. */
const WANTED = new Map<number, number>([
  [0x00280002, 16], // Samples per Pixel
  [0x00280004, 64], // Photometric Interpretation
  [0x00280008, 64], // Number of Frames
  [0x00280010, 16], // Rows
  [0x00280011, 16], // Columns
  [0x00280100, 16], // Bits Allocated
  [0x7fe00001, 64 << 20], // Extended Offset Table
  [0x7fe00002, 64 << 20], // Extended Offset Table Lengths
]);
const PIXEL_DATA_TAG = 0x7fe00010;

interface Syntax {
  explicit: boolean;
  little: boolean;
}

interface Header {
  tag: number;
  vr: string;
  length: number;
}

function unreadable(message: string): FerryError {
  return new FerryError('dicom.dataset_unreadable', message);
}

const hex8 = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');

interface DictEntry {
  vr: string;
}
const dictionary = (
  dcmjs.data as unknown as { DicomMetaDictionary: { dictionary: Record<string, DictEntry> } }
).DicomMetaDictionary.dictionary;

/** The VR of a tag in an implicit VR dataset, from the data dictionary (UN when unknown). */
function implicitVr(tag: number): string {
  if (tag === PIXEL_DATA_TAG) return 'OW';
  const t = hex8(tag);
  const vr = dictionary[`(${t.slice(0, 4)},${t.slice(4)})`]?.vr;
  return vr && /^[A-Z]{2}$/.test(vr) ? vr : vr === 'ox' || vr === 'ob' ? 'OB' : 'UN';
}

async function readHeader(cur: ByteCursor, syntax: Syntax): Promise<Header> {
  const head = await cur.read(8);
  const group = syntax.little ? head.readUInt16LE(0) : head.readUInt16BE(0);
  const element = syntax.little ? head.readUInt16LE(2) : head.readUInt16BE(2);
  const tag = ((group << 16) | element) >>> 0;
  // Items and delimiters have no VR in any syntax.
  if (group === 0xfffe || !syntax.explicit) {
    const length = syntax.little ? head.readUInt32LE(4) : head.readUInt32BE(4);
    return { tag, vr: group === 0xfffe ? '' : implicitVr(tag), length };
  }
  const vr = head.toString('latin1', 4, 6);
  if (!/^[A-Z]{2}$/.test(vr)) throw unreadable(`no valid VR at byte ${cur.position - 4}`);
  if (LONG_LENGTH_VRS.has(vr)) {
    const len = await cur.read(4);
    return { tag, vr, length: syntax.little ? len.readUInt32LE(0) : len.readUInt32BE(0) };
  }
  return { tag, vr, length: syntax.little ? head.readUInt16LE(6) : head.readUInt16BE(6) };
}

interface Walk {
  bulk: Map<string, BulkValue>;
  wanted: Map<number, Buffer>;
  pixelHeader?: { vr: string; length: number; at: number };
}

/**
 * Walks one dataset (the top level, or a sequence item) to `end` (a position), or to an item
 * delimiter when `end` is undefined. Returns when the top level reaches Pixel Data, with the cursor at
 * its value.
 */
async function walkDataset(
  cur: ByteCursor,
  syntax: Syntax,
  walk: Walk,
  prefix: string,
  depth: number,
  end: number | undefined,
): Promise<void> {
  const top = depth === 0;
  for (;;) {
    if (end !== undefined && cur.position >= end) return;
    if (top && (await cur.atEnd())) return;
    const h = await readHeader(cur, syntax);
    if (h.tag === ITEM_END_TAG) return;
    if (top && h.tag === PIXEL_DATA_TAG) {
      walk.pixelHeader = { vr: h.vr, length: h.length, at: cur.position };
      return;
    }
    const path = `${prefix}${hex8(h.tag)}`;
    if (h.length === UNDEFINED_LENGTH && (h.vr === 'OB' || h.vr === 'OW')) {
      // Encapsulated pixels below the top level (an icon image): fragments, not a dataset.
      await readFragments(cur, syntax);
      continue;
    }
    if (h.vr === 'SQ' || h.length === UNDEFINED_LENGTH) {
      if (depth >= MAX_DEPTH) throw unreadable('sequences nest too deep');
      // A sequence sent as UN is implicit VR little endian inside (PS3.5 6.2.2).
      const inner = h.vr === 'UN' ? { explicit: false, little: true } : syntax;
      await walkSequence(cur, inner, walk, `${path}/`, depth + 1, h.length);
      continue;
    }
    if (top && WANTED.has(h.tag) && h.length <= (WANTED.get(h.tag) ?? 0)) {
      walk.wanted.set(h.tag, Buffer.from(await cur.read(h.length)));
      continue;
    }
    if (BINARY_VRS.has(h.vr) && h.length > MAX_INLINE_BINARY_BYTES && walk.bulk.size < MAX_BULK_VALUES) {
      walk.bulk.set(path, { vr: h.vr, offset: cur.position, length: h.length });
    }
    await cur.skip(h.length);
  }
}

async function walkSequence(
  cur: ByteCursor,
  syntax: Syntax,
  walk: Walk,
  prefix: string,
  depth: number,
  length: number,
): Promise<void> {
  const end = length === UNDEFINED_LENGTH ? undefined : cur.position + length;
  for (let item = 0; ; item++) {
    if (end !== undefined && cur.position >= end) return;
    const h = await readHeader(cur, syntax);
    if (h.tag === SEQUENCE_END_TAG) return;
    if (h.tag !== ITEM_TAG) throw unreadable(`no item in a sequence at byte ${cur.position - 8}`);
    const itemEnd = h.length === UNDEFINED_LENGTH ? undefined : cur.position + h.length;
    await walkDataset(cur, syntax, walk, `${prefix}${item}/`, depth, itemEnd);
  }
}

/** The File Meta Information (explicit VR little endian): its transfer syntax; the cursor at the dataset. */
async function readMeta(cur: ByteCursor): Promise<string> {
  await cur.skip(128);
  if ((await cur.read(4)).toString('latin1') !== 'DICM') throw unreadable('not a DICOM Part-10 file');
  let ts: string | undefined;
  const meta = { explicit: true, little: true };
  for (;;) {
    // The meta information ends where group 0002 does.
    const group = await cur.peek(2);
    if (group?.readUInt16LE(0) !== 0x0002) break;
    const h = await readHeader(cur, meta);
    const value = await cur.read(h.length);
    if (h.tag === 0x00020010) ts = value.toString('latin1').replace(/[\0 ]+$/, '');
  }
  if (!ts) throw unreadable('the File Meta Information names no transfer syntax');
  return ts;
}

function uint(b: Buffer | undefined, little: boolean): number | undefined {
  if (!b || b.length < 2) return undefined;
  return little ? b.readUInt16LE(0) : b.readUInt16BE(0);
}

function text(b: Buffer | undefined): string | undefined {
  return (
    b
      ?.toString('latin1')
      .replace(/[\0 ]+$/, '')
      .trim() || undefined
  );
}

function offsets64(b: Buffer | undefined, little: boolean): number[] | undefined {
  if (!b || b.length === 0 || b.length % 8 !== 0) return undefined;
  const out: number[] = [];
  for (let at = 0; at < b.length; at += 8)
    out.push(Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)));
  return out;
}

interface Fragment extends ByteSpan {
  /** Offset of the fragment's item tag from the first fragment's (what offset tables count). */
  itemOffset: number;
  /** The fragment starts a JPEG, JPEG-LS, JPEG 2000 or HTJ2K codestream. */
  startsCodestream: boolean;
}

function startsCodestream(head: Buffer): boolean {
  if (head.length < 4) return false;
  const w = head.readUInt32BE(0);
  // JPEG SOI + marker; J2K SOC + SIZ; a JP2 file's signature box.
  return (w & 0xffffff00) === 0xffd8ff00 || w === 0xff4fff51 || w === 0x0000000c;
}

async function readFragments(
  cur: ByteCursor,
  syntax: Syntax,
): Promise<{ table: Buffer; fragments: Fragment[] }> {
  let table: Buffer | undefined;
  const fragments: Fragment[] = [];
  let first: number | undefined;
  for (;;) {
    const itemAt = cur.position;
    const h = await readHeader(cur, syntax);
    if (h.tag === SEQUENCE_END_TAG) break;
    if (h.tag !== ITEM_TAG || h.length === UNDEFINED_LENGTH)
      throw unreadable(`no fragment item at byte ${itemAt}`);
    if (table === undefined) {
      // 4 bytes a frame: a table longer than this is not one (and is not held in memory).
      if (h.length > MAX_OFFSET_TABLE_BYTES) throw unreadable('the Basic Offset Table is implausibly long');
      table = Buffer.from(await cur.read(h.length));
      continue;
    }
    first ??= itemAt;
    if (fragments.length >= MAX_FRAGMENTS) throw unreadable(`more than ${MAX_FRAGMENTS} fragments`);
    const head = Buffer.from(await cur.read(Math.min(4, h.length)));
    fragments.push({
      offset: cur.position - head.length,
      length: h.length,
      itemOffset: itemAt - first,
      startsCodestream: startsCodestream(head),
    });
    await cur.skip(h.length - head.length);
  }
  return { table: table ?? Buffer.alloc(0), fragments };
}

/** Frames of encapsulated Pixel Data from its offset tables, or failing those, from its fragments. */
export function groupFragments(
  fragments: readonly Fragment[],
  numberOfFrames: number,
  tables: { basic: Buffer; extended: number[] | undefined; little: boolean; rle: boolean },
): ByteSpan[][] {
  const span = (f: Fragment): ByteSpan => ({ offset: f.offset, length: f.length });
  const byStarts = (starts: number[]): ByteSpan[][] | undefined => {
    const frames: ByteSpan[][] = [];
    for (let k = 0; k < starts.length; k++) {
      const from = starts[k]!;
      const to = starts[k + 1] ?? Number.POSITIVE_INFINITY;
      const group = fragments.filter((f) => f.itemOffset >= from && f.itemOffset < to).map(span);
      if (group.length === 0 || group[0] === undefined) return undefined;
      frames.push(group);
    }
    return frames;
  };
  if (tables.extended && tables.extended.length > 0) {
    const frames = byStarts(tables.extended);
    if (frames) return frames;
  }
  if (tables.basic.length >= 4 && tables.basic.length % 4 === 0) {
    const starts: number[] = [];
    for (let at = 0; at < tables.basic.length; at += 4)
      starts.push(tables.little ? tables.basic.readUInt32LE(at) : tables.basic.readUInt32BE(at));
    const frames = byStarts(starts);
    if (frames) return frames;
  }
  if (fragments.length === numberOfFrames || tables.rle) return fragments.map((f) => [span(f)]);
  if (numberOfFrames === 1) return [fragments.map(span)];
  const starts = fragments.filter((f) => f.startsCodestream).map((f) => f.itemOffset);
  if (starts.length === numberOfFrames && fragments[0]?.startsCodestream) return byStarts(starts) ?? [];
  throw unreadable(
    `${fragments.length} fragments cannot be told apart into ${numberOfFrames} frames without an offset table`,
  );
}

function syntaxOf(ts: string): Syntax {
  if (ts === TS.ImplicitVRLittleEndian) return { explicit: false, little: true };
  if (ts === TS.ExplicitVRBigEndian) return { explicit: true, little: false };
  return { explicit: true, little: true };
}

/**
 * Walks a Part-10 file from its first byte, once. Throws dicom.dataset_unreadable when the file is not
 * one, or its structure breaks before the Pixel Data.
 */
export async function readPart10Layout(source: AsyncIterable<Uint8Array>): Promise<Part10Layout> {
  const file = new ByteCursor(source);
  let cur = file;
  let inflater: Transform | undefined;
  try {
    const ts = await readMeta(cur);
    const datasetStart = file.position;
    const deflated = ts === TS.DeflatedExplicitVRLittleEndian;
    if (deflated) {
      inflater = Readable.from(file.rest()).pipe(createInflateRaw());
      cur = new ByteCursor(inflater, file.position);
    }
    const syntax = syntaxOf(ts);
    const walk: Walk = { bulk: new Map(), wanted: new Map() };
    await walkDataset(cur, syntax, walk, '', 0, undefined);
    const layout: Part10Layout = {
      transferSyntaxUid: ts,
      littleEndian: syntax.little,
      deflated,
      datasetStart,
      pixels: undefined,
      bulk: walk.bulk,
    };
    const px = walk.pixelHeader;
    if (!px) return layout;
    const w = walk.wanted;
    const framesText = text(w.get(0x00280008));
    const numberOfFrames = framesText && /^\d+$/.test(framesText) ? Math.max(1, Number(framesText)) : 1;
    if (px.length === UNDEFINED_LENGTH) {
      if (!isEncapsulated(ts)) throw unreadable('native Pixel Data of undefined length');
      const { table, fragments } = await readFragments(cur, syntax);
      const frames = groupFragments(fragments, numberOfFrames, {
        basic: table,
        extended: offsets64(w.get(0x7fe00001), syntax.little),
        little: syntax.little,
        rle: ts === '1.2.840.10008.1.2.5',
      });
      layout.pixels = { kind: 'encapsulated', frames, numberOfFrames: frames.length };
      return layout;
    }
    const rows = uint(w.get(0x00280010), syntax.little);
    const columns = uint(w.get(0x00280011), syntax.little);
    const bitsAllocated = uint(w.get(0x00280100), syntax.little) ?? 16;
    const samples = uint(w.get(0x00280002), syntax.little) ?? 1;
    const photometric = text(w.get(0x00280004)) ?? '';
    const value = { offset: px.at, length: px.length };
    // Two samples a pixel's worth: YBR_*_422 shares each chroma pair between two pixels.
    const perPixel = /_422$/.test(photometric) ? 2 : samples;
    const frameBits = rows && columns ? rows * columns * perPixel * bitsAllocated : px.length * 8;
    const held = frameBits > 0 ? Math.floor((px.length * 8) / frameBits) : 0;
    const frames = rows && columns ? Math.min(numberOfFrames, held) : 1;
    if (frames < 1) throw unreadable('the Pixel Data is shorter than one frame');
    layout.pixels = { kind: 'native', vr: px.vr, value, frameBits, bitsAllocated, numberOfFrames: frames };
    return layout;
  } finally {
    inflater?.destroy();
    await file.close();
  }
}
