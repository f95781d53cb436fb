import { ImageAttributes, isImageTag, MAX_IMAGE_VALUE_BYTES } from './dataset-check-pixels.js';

/**
 * Walks a dataset's structure as its bytes stream past, and says at the end whether it was whole:
 * every element within the data, every sequence and item closed, encapsulated Pixel Data made of
 * a Basic Offset Table item, fragments and a delimiter, native Pixel Data as long as the image
 * attributes say. It never copies the dataset: values are skipped by counting, and only a stack of
 * open sequences and items, a 12-byte header carry and the few image attributes are kept, so a
 * 2 GB multi-frame costs what a CT slice costs.
 *
 * Where pydicom and DCMTK read odd but legal encodings, so does this: an element inside an explicit
 * VR item whose VR bytes are not letters is read as implicit VR (writers that switch inside
 * sequences), VR UN of undefined length holds implicit VR little endian items (PS3.5 6.2.2), and an
 * implicit VR element of defined length is skipped whole (its VR, so whether it is a sequence, is not
 * on the wire).
 */
export interface DatasetLayout {
  implicit: boolean;
  littleEndian: boolean;
  /** Native Pixel Data is checked against the image attributes (not in encapsulated syntaxes). */
  nativePixels: boolean;
}

/** The check's verdict so far; `problem` says what is wrong, in at most a few dozen characters. */
export interface StructureVerdict {
  problem?: string;
  /** Figures for the log (no patient data). */
  detail?: Record<string, unknown>;
}

enum Kind {
  Dataset,
  Sequence,
  Fragments,
}

interface Frame {
  kind: Kind;
  /** Stream offset where the frame ends; Infinity for undefined length. */
  end: number;
  /** The sequence's tag (an item frame carries its sequence's). */
  tag: number;
  implicit: boolean;
  le: boolean;
  items: number;
}

const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
/** Sequences and items open at once; real data nests a handful, a hostile peer could nest millions. */
const MAX_DEPTH = 128;

const vrCode = (vr: string) => (vr.charCodeAt(0) << 8) | vr.charCodeAt(1);
const VR_SQ = vrCode('SQ');
const VR_UN = vrCode('UN');
/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS: ReadonlySet<number> = new Set(
  ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'].map(vrCode),
);

export function tagName(tag: number): string {
  if (tag === PIXEL_DATA) return 'Pixel Data';
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

export class DatasetStructure {
  private readonly stack: Frame[];
  private pos = 0;
  /** Value bytes still to pass of the element being read. */
  private skip = 0;
  private valueTag = 0;
  private valueStart = 0;
  private valueLength = 0;
  /** The fragment being read (0: Basic Offset Table), -1 when the value is an element's. */
  private fragment = -1;
  private readonly header = Buffer.alloc(12);
  private headerBytes = 0;
  private readonly captured = Buffer.alloc(MAX_IMAGE_VALUE_BYTES);
  private capturing = false;
  private capturedLe = true;
  private readonly image = new ImageAttributes();
  private verdict: StructureVerdict | undefined;

  constructor(private readonly layout: DatasetLayout) {
    this.stack = [
      {
        kind: Kind.Dataset,
        end: Infinity,
        tag: 0,
        implicit: layout.implicit,
        le: layout.littleEndian,
        items: 0,
      },
    ];
  }

  /** Set once the bytes so far cannot be a well-formed dataset; later bytes change nothing. */
  get failed(): StructureVerdict | undefined {
    return this.verdict;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.pos;
  }

  push(buf: Buffer): void {
    if (this.verdict) return;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        if (this.capturing) buf.copy(this.captured, this.valueLength - this.skip, i, i + take);
        this.skip -= take;
        this.pos += take;
        i += take;
        if (this.skip > 0) return;
        if (this.capturing) this.captureDone();
        continue;
      }
      let top = this.stack[this.stack.length - 1]!;
      while (this.pos === top.end) {
        this.stack.pop();
        top = this.stack[this.stack.length - 1]!;
      }
      let h: Buffer;
      let at: number;
      let length: number;
      /** Header bytes still to take from `buf` (a gathered header was taken already). */
      let taking: number;
      if (this.headerBytes === 0 && n - i >= 12) {
        h = buf;
        at = i;
        length = this.headerLength(h, at, top);
        taking = length;
      } else {
        // A header split across slices is gathered in `header`: 8 bytes say whether 4 more follow.
        const want = this.headerBytes < 8 ? 8 : this.headerLength(this.header, 0, top);
        const take = Math.min(want - this.headerBytes, n - i);
        buf.copy(this.header, this.headerBytes, i, i + take);
        this.headerBytes += take;
        i += take;
        if (this.headerBytes < want) return;
        length = this.headerLength(this.header, 0, top);
        if (this.headerBytes < length) continue;
        h = this.header;
        at = 0;
        taking = 0;
        this.headerBytes = 0;
      }
      if (this.pos + length > top.end) {
        this.fail(this.overrun(top, tagAt(h, at, top.le)));
        return;
      }
      this.element(h, at, length, top);
      this.pos += length;
      i += taking;
      if (this.verdict) return;
    }
  }

  /** The dataset is complete: was it read to its end, every sequence and item closed? */
  finish(): StructureVerdict {
    if (this.verdict) return this.verdict;
    if (this.skip > 0) {
      const got = this.pos - this.valueStart;
      const what =
        this.fragment < 0
          ? tagName(this.valueTag)
          : this.fragment === 0
            ? 'the Basic Offset Table'
            : `Pixel Data fragment ${this.fragment}`;
      return this.fail(`dataset ends inside ${what}: ${got} of ${this.valueLength} bytes`, {
        tag: tagName(this.valueTag),
      });
    }
    if (this.headerBytes > 0)
      return this.fail(`dataset ends inside an element header (${this.headerBytes} bytes)`);
    let top = this.stack[this.stack.length - 1]!;
    while (this.stack.length > 1 && this.pos === top.end) {
      this.stack.pop();
      top = this.stack[this.stack.length - 1]!;
    }
    if (this.stack.length > 1) {
      const open =
        top.kind === Kind.Fragments
          ? `encapsulated ${tagName(top.tag)} before its delimiter`
          : top.kind === Kind.Sequence
            ? `sequence ${tagName(top.tag)}`
            : `an item of ${tagName(top.tag)}`;
      return this.fail(`dataset ends inside ${open}`, { depth: this.stack.length - 1 });
    }
    if (this.pos === 0) return this.fail('dataset is empty');
    this.verdict = {};
    return this.verdict;
  }

  private fail(problem: string, detail: Record<string, unknown> = {}): StructureVerdict {
    this.verdict = { problem, detail: { ...detail, offset: this.pos } };
    return this.verdict;
  }

  /** 8 or 12: explicit VR elements with a long VR carry 4 more bytes of length. */
  private headerLength(h: Buffer, at: number, top: Frame): number {
    if (top.kind !== Kind.Dataset || top.implicit) return 8;
    const c0 = h[at + 4]!;
    const c1 = h[at + 5]!;
    if (c0 < 0x41 || c0 > 0x5a || c1 < 0x41 || c1 > 0x5a) return 8;
    if (tagAt(h, at, top.le) >>> 16 === 0xfffe) return 8;
    return LONG_VRS.has((c0 << 8) | c1) ? 12 : 8;
  }

  private element(h: Buffer, at: number, headerLength: number, top: Frame): void {
    const le = top.le;
    const tag = tagAt(h, at, le);
    if (top.kind === Kind.Sequence) return this.sequenceEntry(tag, u32(h, at + 4, le), top);
    if (top.kind === Kind.Fragments) return this.fragmentEntry(tag, u32(h, at + 4, le), top);
    if (tag >>> 16 === 0xfffe) {
      if (tag === ITEM_DELIMITER && top.end === Infinity && this.stack.length > 1) {
        this.stack.pop();
        return;
      }
      this.fail(`${tagName(tag)} where an element belongs`, { depth: this.stack.length - 1 });
      return;
    }
    let vr = 0;
    let length: number;
    if (headerLength === 12) {
      vr = (h[at + 4]! << 8) | h[at + 5]!;
      length = u32(h, at + 8, le);
    } else if (
      top.implicit ||
      h[at + 4]! < 0x41 ||
      h[at + 4]! > 0x5a ||
      h[at + 5]! < 0x41 ||
      h[at + 5]! > 0x5a
    ) {
      length = u32(h, at + 4, le);
    } else {
      length = le ? h[at + 6]! | (h[at + 7]! << 8) : (h[at + 6]! << 8) | h[at + 7]!;
    }
    const valueStart = this.pos + headerLength;
    // Only a 4-byte length can be undefined: a 2-byte 0xFFFF is 65535.
    if (length === UNDEFINED) {
      if (vr === VR_SQ) return this.open(Kind.Sequence, tag, top.implicit, le);
      if (vr === VR_UN) return this.open(Kind.Sequence, tag, true, true);
      // Implicit VR: undefined length means a sequence, except for encapsulated Pixel Data.
      if (vr === 0 && tag !== PIXEL_DATA) return this.open(Kind.Sequence, tag, top.implicit, le);
      return this.open(Kind.Fragments, tag, top.implicit, le);
    }
    if (valueStart + length > top.end)
      return void this.fail(`${tagName(tag)} runs past the end of its item`, {
        depth: this.stack.length - 1,
      });
    if (vr === VR_SQ) {
      this.open(Kind.Sequence, tag, top.implicit, le);
      this.stack[this.stack.length - 1]!.end = valueStart + length;
      return;
    }
    this.value(tag, valueStart, length, -1);
    if (this.stack.length !== 1) return;
    if (isImageTag(tag) && length <= MAX_IMAGE_VALUE_BYTES) {
      this.capturing = true;
      this.capturedLe = le;
      if (length === 0) this.captureDone();
    } else if (tag === PIXEL_DATA && this.layout.nativePixels) {
      this.checkPixelLength(length);
    }
  }

  private sequenceEntry(tag: number, length: number, top: Frame): void {
    if (tag === ITEM) {
      top.items++;
      const valueStart = this.pos + 8;
      if (length !== UNDEFINED && valueStart + length > top.end)
        return void this.fail(`an item of ${tagName(top.tag)} runs past its sequence`);
      this.open(Kind.Dataset, top.tag, top.implicit, top.le);
      if (length !== UNDEFINED) this.stack[this.stack.length - 1]!.end = valueStart + length;
      return;
    }
    if (tag === SEQUENCE_DELIMITER && top.end === Infinity) {
      this.stack.pop();
      return;
    }
    this.fail(`sequence ${tagName(top.tag)} holds ${tagName(tag)} where an item belongs`);
  }

  private fragmentEntry(tag: number, length: number, top: Frame): void {
    if (tag === ITEM) {
      if (length === UNDEFINED) return void this.fail(`${tagName(top.tag)} fragment of undefined length`);
      if (top.items === 0 && length % 4 !== 0)
        return void this.fail(`Basic Offset Table of ${length} bytes, not a multiple of 4`);
      this.value(top.tag, this.pos + 8, length, top.items);
      top.items++;
      return;
    }
    if (tag === SEQUENCE_DELIMITER) {
      if (top.items === 0)
        return void this.fail(`encapsulated ${tagName(top.tag)} has no Basic Offset Table`);
      if (top.items === 1 && top.tag === PIXEL_DATA && this.stack.length === 2)
        return void this.fail('encapsulated Pixel Data has no fragments');
      this.stack.pop();
      return;
    }
    this.fail(`encapsulated ${tagName(top.tag)} holds ${tagName(tag)} where a fragment belongs`);
  }

  private open(kind: Kind, tag: number, implicit: boolean, le: boolean): void {
    if (this.stack.length >= MAX_DEPTH) {
      this.fail(`sequences nested deeper than ${MAX_DEPTH / 2}`);
      return;
    }
    this.stack.push({ kind, end: Infinity, tag, implicit, le, items: 0 });
  }

  private value(tag: number, start: number, length: number, fragment: number): void {
    this.valueTag = tag;
    this.valueStart = start;
    this.valueLength = length;
    this.fragment = fragment;
    this.skip = length;
  }

  private captureDone(): void {
    this.capturing = false;
    this.image.set(this.valueTag, this.captured.subarray(0, this.valueLength), this.capturedLe);
  }

  private checkPixelLength(length: number): void {
    const expected = this.image.expectedPixelBytes();
    if (expected === undefined || length >= expected) return;
    this.fail(`Pixel Data is ${length} bytes; its image attributes need ${expected}`, {
      ...this.image.describe(),
      pixelDataLength: length,
      expected,
    });
  }

  private overrun(top: Frame, tag: number): string {
    if (top.kind === Kind.Sequence) return `an item of ${tagName(top.tag)} runs past its sequence`;
    return `${tagName(tag)} runs past the end of its item`;
  }
}

function tagAt(h: Buffer, at: number, le: boolean): number {
  return le
    ? ((h[at + 1]! << 24) | (h[at]! << 16) | (h[at + 3]! << 8) | h[at + 2]!) >>> 0
    : ((h[at]! << 24) | (h[at + 1]! << 16) | (h[at + 2]! << 8) | h[at + 3]!) >>> 0;
}

function u32(h: Buffer, at: number, le: boolean): number {
  return le ? h.readUInt32LE(at) : h.readUInt32BE(at);
}
