/**
 * The one door to dcmjs (pinned at 0.51: 0.52 needs Node 22). dcmjs ships no types, so this module
 * loads it through `require` and describes the small part Ferry uses. `DicomMessage._read` is not
 * public API; it is used because it reads a dataset from any offset with one syntax, which the
 * public `readFile` cannot do for a deflated dataset without inflating all of it.
 */
import { createRequire } from 'node:module';

export interface DcmjsElement {
  vr: string | number;
  Value?: unknown;
  _rawValue?: unknown;
}
export type DcmjsDict = Record<string, DcmjsElement>;

export interface DcmjsReadStream {
  offset: number;
  size: number;
  end(): boolean;
}

interface DcmjsStreamInternals extends DcmjsReadStream {
  decoder: { decode(view: DataView): string };
  setDecoder(decoder: unknown): void;
  more(length: number): DcmjsStreamInternals;
}

interface DcmjsTag {
  value: number;
  toString(): string;
  toCleanString(): string;
}

interface DcmjsTagInfo {
  tag: DcmjsTag;
  values: unknown[];
}

export interface DcmjsReadOptions {
  ignoreErrors: boolean;
  untilTag: string | null;
  includeUntilTagValue: boolean;
}

export interface DcmjsDicomDict {
  meta: DcmjsDict;
  dict: DcmjsDict;
  write(options?: Record<string, unknown>): ArrayBuffer;
}

interface Dcmjs {
  log: { setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void };
  data: {
    Tag: { prototype: DcmjsTag };
    /** Looked up by tag, `(GGGG,EEEE)` in upper case; repeating groups (60xx) resolve too. */
    DicomMetaDictionary: { dictionary: Record<string, { vr: string } | undefined> };
    ReadBufferStream: new (
      buffer: ArrayBuffer,
      littleEndian: boolean | null,
      options?: { noCopy?: boolean; start?: number },
    ) => DcmjsReadStream;
    DicomMessage: {
      _readTag(stream: DcmjsReadStream, syntax: string, options?: unknown): DcmjsTagInfo;
      _read(stream: DcmjsReadStream, syntax: string, options: DcmjsReadOptions): DcmjsDict;
      readFile(
        buffer: ArrayBuffer,
        options?: Partial<DcmjsReadOptions> & { noCopy?: boolean },
      ): DcmjsDicomDict;
    };
  };
}

export const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;
// Its logger warns on every recoverable parse problem; we report those ourselves.
dcmjs.log.setLevel('error');

/**
 * dcmjs names every tag it reads three or four times (`toCleanString`, `toString` for the dictionary),
 * each by formatting two hex numbers afresh: a third of a small header's parse. The names are pure
 * functions of the tag's value, so they are remembered, for at most NAMED_TAGS_MAX tags (a header has a
 * few hundred; a crafted file of countless private tags only falls back to formatting).
 */
const NAMED_TAGS_MAX = 20_000;
function remembered(format: (this: DcmjsTag) => string): (this: DcmjsTag) => string {
  const names = new Map<number, string>();
  return function (this: DcmjsTag) {
    let name = names.get(this.value);
    if (name === undefined) {
      name = format.call(this);
      if (names.size < NAMED_TAGS_MAX) names.set(this.value, name);
    }
    return name;
  };
}
const tagPrototype = dcmjs.data.Tag.prototype;
tagPrototype.toCleanString = remembered(tagPrototype.toCleanString);
tagPrototype.toString = remembered(tagPrototype.toString);

/** An ArrayBuffer holding exactly `bytes` (dcmjs reads ArrayBuffers, not Node buffers). */
export function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  )
    return bytes.buffer;
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/** Streams whose text values come back as bytes: one latin1 character per byte. */
const rawTextStreams = new WeakSet<DcmjsReadStream>();
const latin1 = {
  decode: (view: DataView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('latin1'),
};

function keepTextAsBytes(stream: DcmjsStreamInternals): DcmjsStreamInternals {
  stream.decoder = latin1;
  // dcmjs swaps the decoder when it reads (0008,0005), knowing one term only and no escapes.
  stream.setDecoder = () => {};
  const more = stream.more.bind(stream);
  // A sequence item is read from a stream `more()` cuts from its parent.
  stream.more = (length) => keepTextAsBytes(more(length));
  rawTextStreams.add(stream);
  return stream;
}

// dcmjs refuses a multi-valued or unknown (0008,0005) inside a sequence item (and drops the sequence);
// for our streams the values stay in `_rawValue` and Ferry decodes the text itself.
const readTag = dcmjs.data.DicomMessage._readTag;
/** (0008,0005) as dcmjs numbers a tag (Tag.fromNumbers: group << 16 | element, unsigned). */
const SPECIFIC_CHARACTER_SET = 0x00080005;
dcmjs.data.DicomMessage._readTag = function (this: unknown, stream, syntax, options) {
  const info = readTag.call(this, stream, syntax, options);
  if (info.tag.value === SPECIFIC_CHARACTER_SET && rawTextStreams.has(stream)) info.values = [];
  return info;
};

/**
 * A read stream over `buffer` whose text values (SH, LO, ST, LT, PN, UC, UT) come back undecoded, one
 * latin1 character per byte, in sequence items too: `Buffer.from(value, 'latin1')` gives the bytes
 * back for the character set decoder (@ferry/shared decodeText).
 */
export function rawTextReadStream(bytes: Uint8Array): DcmjsReadStream {
  // dcmjs reads to the end of the ArrayBuffer it is given (a value declaring more bytes than are left
  // takes what is there), so one that goes on past `bytes` (Buffer's pool, a whole pack) is copied;
  // one that ends where `bytes` ends is read in place from their first byte.
  const fits =
    bytes.buffer instanceof ArrayBuffer && bytes.byteOffset + bytes.byteLength === bytes.buffer.byteLength;
  const stream = fits
    ? new dcmjs.data.ReadBufferStream(bytes.buffer, true, { noCopy: true, start: bytes.byteOffset })
    : new dcmjs.data.ReadBufferStream(arrayBufferOf(bytes), true, { noCopy: true });
  return keepTextAsBytes(stream as DcmjsStreamInternals);
}
