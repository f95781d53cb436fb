/**
 * DICOM JSON (PS3.18 F.2) of a Part-10 header, up to the Pixel Data: the `metadata` column that QIDO
 * and WADO-RS /metadata answer from. Only the first bytes of an object are parsed (at most
 * HEADER_CAP_BYTES), so a 1 GB instance costs what its header costs.
 *
 * - Group 0002 (File Meta Information) and group lengths are left out; the transfer syntax has its own column.
 * - Binary values (OB, OW, OF, OD, OL, OV, UN) become `InlineBinary` when small; larger ones, and the
 *   Pixel Data, keep a placeholder `BulkDataURI` holding their path (`tag`, or `tag/item/tag/…` inside
 *   sequences, items counted from 0), which WADO-RS /metadata turns into a URL of its bulkdata route.
 * - Strings are Unicode, decoded here (not by dcmjs) per PS3.5 6.1.2.5 with the Specific Character Set
 *   in force: the dataset's, or a sequence item's own; (0008,0005) keeps its original value so it
 *   still describes the stored bytes.
 * - A header that cannot be read to its end keeps what was read, and says so (`truncated`).
 */
import { createInflateRaw, constants as zc } from 'node:zlib';
import {
  type CharacterSet,
  type CharsetIssue,
  characterSetOf,
  DEFAULT_CHARACTER_SET,
  decodeText,
  FerryError,
  isTextVr,
  type TextVr,
  TS,
  textValues,
} from '@ferry/shared';
import { type DcmjsDict, type DcmjsElement, dcmjs, rawTextReadStream } from './dcmjs.js';
import { BINARY_VRS, LONG_LENGTH_VRS } from './vr.js';

export const HEADER_CAP_BYTES = 8 * 1024 * 1024;
export const MAX_INLINE_BINARY_BYTES = 1024;

export interface PersonNameJson {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}
export type DicomJsonValue = string | number | null | PersonNameJson | DicomJson;
export interface DicomJsonElement {
  vr: string;
  Value?: DicomJsonValue[];
  InlineBinary?: string;
  /** Stored: the value's path in the dataset (a placeholder); answered: its absolute URL. */
  BulkDataURI?: string;
}
export type DicomJson = { [tag: string]: DicomJsonElement };

export interface ParsedHeader {
  metadata: DicomJson;
  /** From the File Meta Information. */
  transferSyntaxUid: string | undefined;
  /** True when parsing reached the Pixel Data (or the end of a complete file) without errors. */
  complete: boolean;
  /** Why the header is incomplete, for a log line (no values). */
  problem?: string;
  /** What text had to be decoded leniently (unknown terms or escapes, invalid bytes), if anything. */
  charset?: { terms: readonly string[]; issues: CharsetIssue[] };
}

export const PIXEL_DATA = '7FE00010';
/** A bulk data placeholder's path: `tag`, or `tag/item/tag/…` inside sequences (items from 0). */
export const BULK_DATA_PATH = /^[0-9A-F]{8}(\/\d{1,6}\/[0-9A-F]{8}){0,16}$/;
const NUL = /\0/g;

/**
 * Keeps the first `cap` bytes of a stream of chunks, without holding on to the rest. `whole` is true
 * while everything pushed so far fits.
 */
export class HeaderPrefix {
  private chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;

  constructor(private readonly cap = HEADER_CAP_BYTES) {}

  push(bytes: Uint8Array): void {
    this.total += bytes.length;
    if (this.kept >= this.cap) return;
    const take = Math.min(bytes.length, this.cap - this.kept);
    this.chunks.push(exactCopy(bytes.subarray(0, take)));
    this.kept += take;
  }

  get whole(): boolean {
    return this.total <= this.cap;
  }

  bytes(): Buffer {
    if (this.chunks.length !== 1) {
      const all = Buffer.allocUnsafeSlow(this.kept);
      let at = 0;
      for (const c of this.chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.chunks = [all];
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}

/**
 * A copy (the caller's buffers may be reused) in an ArrayBuffer of its own, never a slice of Buffer's
 * pool (which holds buffers under 32 KiB in Node 24): dcmjs reads such a buffer in place, any other
 * is copied again (dcmjs.ts rawTextReadStream).
 */
function exactCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

function unreadable(message: string, cause?: unknown): FerryError {
  return new FerryError('dicom.dataset_unreadable', message, cause === undefined ? {} : { cause });
}

/** Walks the File Meta Information (always explicit VR little endian): where it ends, and its syntax. */
function readMeta(file: Buffer): { end: number; transferSyntaxUid: string | undefined } {
  if (file.length < 132 || file.toString('latin1', 128, 132) !== 'DICM') {
    throw unreadable('not a DICOM Part-10 file (no "DICM" after the preamble)');
  }
  let at = 132;
  let transferSyntaxUid: string | undefined;
  while (at + 8 <= file.length && file.readUInt16LE(at) === 0x0002) {
    const element = file.readUInt16LE(at + 2);
    const vr = file.toString('latin1', at + 4, at + 6);
    let length: number;
    let valueAt: number;
    if (LONG_LENGTH_VRS.has(vr)) {
      if (at + 12 > file.length) break;
      length = file.readUInt32LE(at + 8);
      valueAt = at + 12;
    } else {
      length = file.readUInt16LE(at + 6);
      valueAt = at + 8;
    }
    if (length === 0xffffffff || valueAt + length > file.length) {
      throw unreadable('the File Meta Information is truncated or malformed');
    }
    if (element === 0x0010) {
      transferSyntaxUid = file.toString('latin1', valueAt, valueAt + length).replace(/[\0 ]+$/, '');
    }
    at = valueAt + length;
  }
  return { end: at, transferSyntaxUid };
}

/** Inflates at most `cap` bytes of a raw deflate stream; a truncated input yields what it holds. */
function inflatePrefix(deflated: Buffer, cap: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (err?: unknown) => {
      if (settled) return;
      settled = true;
      inflater.destroy();
      if (err !== undefined && size === 0) reject(unreadable('the deflated dataset cannot be inflated', err));
      else resolve(Buffer.concat(out).subarray(0, cap));
    };
    const inflater = createInflateRaw({ finishFlush: zc.Z_SYNC_FLUSH });
    inflater.on('data', (chunk: Buffer) => {
      out.push(chunk);
      size += chunk.length;
      if (size >= cap) done();
    });
    inflater.on('end', () => done());
    inflater.on('error', (err) => done(err));
    inflater.end(deflated);
  });
}

function cleanString(s: string): string {
  return s.includes('\0') ? s.replace(NUL, '') : s;
}

function toNumberOrString(v: unknown): number | string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'string') return cleanString(v);
  return null;
}

function binaryBytes(value: unknown): Buffer | undefined {
  const parts = Array.isArray(value) ? value : [value];
  const buffers: Buffer[] = [];
  for (const p of parts) {
    if (p instanceof ArrayBuffer) buffers.push(Buffer.from(p));
    else if (ArrayBuffer.isView(p)) buffers.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    else if (p !== null && p !== undefined) return undefined;
  }
  return Buffer.concat(buffers);
}

const PN_GROUPS = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;

/** A decoded person name (`Alphabetic=Ideographic=Phonetic`) as DICOM JSON, or null when empty. */
export function personNameJson(v: string): PersonNameJson | null {
  // Component groups are separated by '=' (PS3.5 6.2.1); '^' separates components within one.
  const out: PersonNameJson = {};
  cleanString(v)
    .split('=')
    .slice(0, 3)
    .forEach((group, i) => {
      if (group !== '') out[PN_GROUPS[i]!] = group;
    });
  return Object.keys(out).length > 0 ? out : null;
}

/** How the text is decoded where it is read: the character set in force, and where issues go. */
interface TextScope {
  charset: CharacterSet;
  issues: Set<CharsetIssue>;
}

/** A text element's values from its bytes (dcmjs hands them over one latin1 character per byte). */
function textJson(vr: TextVr, el: DcmjsElement, scope: TextScope): DicomJsonValue[] {
  const raw = el._rawValue ?? el.Value;
  const joined = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === 'string' ? v : '')).join('\\');
  const decoded = decodeText(Buffer.from(joined, 'latin1'), scope.charset, vr, scope.issues);
  // Leading spaces are significant only in ST, LT and UT (PS3.5 6.2).
  const trim =
    vr === 'ST' || vr === 'LT' || vr === 'UT' ? (v: string) => v.trimEnd() : (v: string) => v.trim();
  return textValues(decoded, vr).map((v) => {
    const value = trim(cleanString(v));
    if (vr === 'PN') return personNameJson(value);
    return value === '' ? null : value;
  });
}

/** Two capital letters, as a VR is written (a regular expression per element costs more). */
function isVrName(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 2) return false;
  const a = v.charCodeAt(0);
  const b = v.charCodeAt(1);
  return a >= 65 && a <= 90 && b >= 65 && b <= 90;
}

/** `prefix` + `tag` is the element's path: built only where it is kept (bulk data, sequence items). */
function elementJson(
  prefix: string,
  tag: string,
  el: DcmjsElement,
  maxInline: number,
  scope: TextScope,
): DicomJsonElement | undefined {
  const vr = isVrName(el.vr) ? el.vr : 'UN';
  if (BINARY_VRS.has(vr)) {
    const bytes = binaryBytes(el.Value);
    if (!bytes) return undefined;
    if (bytes.length > maxInline) return { vr, BulkDataURI: `${prefix}${tag}` };
    return bytes.length === 0 ? { vr } : { vr, InlineBinary: bytes.toString('base64') };
  }
  let raw: unknown[] = Array.isArray(el.Value) ? el.Value : el.Value === undefined ? [] : [el.Value];
  // dcmjs rewrites the character set to UTF-8 after decoding; keep what the file says.
  if (tag === '00080005' && Array.isArray(el._rawValue)) raw = el._rawValue;
  let values: DicomJsonValue[];
  switch (vr) {
    case 'SQ':
      values = raw.map((item, i) =>
        item && typeof item === 'object'
          ? datasetJson(item as DcmjsDict, maxInline, `${prefix}${tag}/${i}/`, scope)
          : {},
      );
      break;
    case 'AT':
      values = raw.map((v) =>
        typeof v === 'number' ? v.toString(16).toUpperCase().padStart(8, '0') : toNumberOrString(v),
      );
      break;
    default:
      values = isTextVr(vr)
        ? textJson(vr, el, scope)
        : raw.map((v) => (v === '' ? null : toNumberOrString(v)));
  }
  if (values.length === 0 || values.every((v) => v === null)) return { vr };
  return { vr, Value: values };
}

/** The character set of a dataset or item: its own (0008,0005), else the one it is nested in (PS3.5 7.5.3). */
function scopeOf(dict: DcmjsDict, outer: TextScope): TextScope {
  const own = dict['00080005'];
  if (!own) return outer;
  const raw = own._rawValue ?? own.Value;
  const charset = characterSetOf(Array.isArray(raw) ? raw.map((v) => (typeof v === 'string' ? v : '')) : []);
  for (const issue of charset.issues) outer.issues.add(issue);
  return { charset, issues: outer.issues };
}

function datasetJson(dict: DcmjsDict, maxInline: number, prefix: string, outer: TextScope): DicomJson {
  const out: DicomJson = {};
  const scope = scopeOf(dict, outer);
  for (const tag of Object.keys(dict)) {
    if ((prefix === '' && tag === PIXEL_DATA) || tag.startsWith('0002') || tag.endsWith('0000')) continue;
    const json = elementJson(prefix, tag, dict[tag]!, maxInline, scope);
    if (json) out[tag] = json;
  }
  return out;
}

function syntaxForParsing(ts: string | undefined): string {
  if (ts === TS.ImplicitVRLittleEndian || ts === TS.ExplicitVRBigEndian) return ts;
  // Explicit little endian, inflated deflate, and every encapsulated syntax: the header is explicit LE.
  return TS.ExplicitVRLittleEndian;
}

/**
 * Parses the header of a Part-10 file from its first bytes. `whole` says the bytes are the complete
 * file (so reaching their end without Pixel Data is a complete parse). Throws dicom.dataset_unreadable
 * only when not even the File Meta Information can be read.
 */
export async function parseDicomHeader(
  prefix: Buffer,
  opts: { whole: boolean; maxInlineBinaryBytes?: number; capBytes?: number },
): Promise<ParsedHeader> {
  const cap = opts.capBytes ?? HEADER_CAP_BYTES;
  const maxInline = opts.maxInlineBinaryBytes ?? MAX_INLINE_BINARY_BYTES;
  const file = prefix.length > cap ? prefix.subarray(0, cap) : prefix;
  const whole = opts.whole && file.length === prefix.length;
  const meta = readMeta(file);
  let body = file.subarray(meta.end);
  let bodyWhole = whole;
  if (meta.transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian) {
    body = await inflatePrefix(body, cap);
    bodyWhole = whole && body.length < cap;
  }
  const stream = rawTextReadStream(body);
  const dict = dcmjs.data.DicomMessage._read(stream, syntaxForParsing(meta.transferSyntaxUid), {
    ignoreErrors: true,
    untilTag: PIXEL_DATA,
    includeUntilTagValue: false,
  });
  const atPixels = PIXEL_DATA in dict;
  const atEnd = stream.offset >= stream.size;
  const complete = atPixels || (atEnd && bodyWhole && Object.keys(dict).length > 0);
  let problem: string | undefined;
  if (!complete) {
    problem =
      atEnd && !bodyWhole
        ? 'the header goes on past the bytes read; kept what they hold'
        : 'the header could not be read to its end; kept what was read';
    // The last element read may have been cut at the end of the prefix.
    const last = Object.keys(dict).at(-1);
    if (last !== undefined && atEnd) delete dict[last];
  }
  const scope: TextScope = { charset: DEFAULT_CHARACTER_SET, issues: new Set() };
  const metadata = datasetJson(dict, maxInline, '', scope);
  const terms = scopeOf(dict, scope).charset.terms;
  if (atPixels) metadata[PIXEL_DATA] = pixelDataPlaceholder(meta.transferSyntaxUid);
  return {
    metadata,
    transferSyntaxUid: meta.transferSyntaxUid,
    complete,
    ...(problem ? { problem } : {}),
    ...(scope.issues.size > 0 ? { charset: { terms, issues: [...scope.issues] } } : {}),
  };
}

/** The stored stand-in for Pixel Data: where /metadata points its BulkDataURI. */
export function pixelDataPlaceholder(transferSyntaxUid: string | undefined): DicomJsonElement {
  const native =
    transferSyntaxUid === undefined ||
    transferSyntaxUid === TS.ImplicitVRLittleEndian ||
    transferSyntaxUid === TS.ExplicitVRLittleEndian ||
    transferSyntaxUid === TS.ExplicitVRBigEndian ||
    transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian;
  return { vr: native ? 'OW' : 'OB', BulkDataURI: PIXEL_DATA };
}

/** The first string value of a DICOM JSON element (PN: its alphabetic group), if any. */
export function firstString(metadata: DicomJson, tag: string): string | undefined {
  const v = metadata[tag]?.Value?.[0];
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number') return String(v);
  if (v && typeof v === 'object' && 'Alphabetic' in v && typeof v.Alphabetic === 'string')
    return v.Alphabetic.trim() || undefined;
  return undefined;
}

/**
 * A person name's first value as DICOM writes it (`Alphabetic=Ideographic=Phonetic`, trailing empty
 * groups dropped), so an index that shows or matches names keeps the ideographic and phonetic groups
 * a Japanese or Korean site relies on.
 */
export function firstPersonName(metadata: DicomJson, tag: string): string | undefined {
  const v = metadata[tag]?.Value?.[0];
  if (!v || typeof v !== 'object') return firstString(metadata, tag);
  const groups = PN_GROUPS.map((g) => (typeof v[g] === 'string' ? v[g].trim() : ''));
  while (groups.length > 0 && groups.at(-1) === '') groups.pop();
  return groups.length > 0 ? groups.join('=') : undefined;
}
