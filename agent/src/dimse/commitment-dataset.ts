import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { FerryError, isValidUid, TS } from '@ferry/shared';

/**
 * The datasets of Storage Commitment Push Model (PS3.4 J.3): the N-ACTION-RQ's list of instances to
 * commit, and the N-EVENT-REPORT-RQ's answer. Both are a few UIDs per instance, read and written
 * here in the presentation context's transfer syntax without a general DICOM library.
 */

export const STORAGE_COMMITMENT_SOP_CLASS = '1.2.840.10008.1.20.1';
/** The one SOP instance of the class (PS3.4 J.3.2.1). */
export const STORAGE_COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';

/** A request bigger than this is refused 0x0213: 8 MiB is some 60,000 referenced instances. */
export const MAX_COMMITMENT_DATASET_BYTES = 8 << 20;

export interface SopRef {
  sopClassUid: string;
  sopInstanceUid: string;
}

export interface CommitmentRequest {
  transactionUid: string;
  refs: SopRef[];
}

/** Failure Reason (0008,1197), PS3.3 C.14.1.1. */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  NoSuchObjectInstance: 0x0112,
  ResourceLimitation: 0x0213,
  ReferencedSopClassNotSupported: 0x0122,
  ClassInstanceConflict: 0x0119,
  DuplicateTransactionUid: 0x0131,
} as const;

export interface FailedRef extends SopRef {
  reason: number;
}

export interface CommitmentResult {
  transactionUid: string;
  committed: SopRef[];
  failed: FailedRef[];
}

const Tag = {
  ReferencedSopClassUid: 0x00081150,
  ReferencedSopInstanceUid: 0x00081155,
  TransactionUid: 0x00081195,
  FailureReason: 0x00081197,
  FailedSopSequence: 0x00081198,
  ReferencedSopSequence: 0x00081199,
  Item: 0xfffee000,
  ItemDelimitation: 0xfffee00d,
  SequenceDelimitation: 0xfffee0dd,
} as const;

const UNDEFINED = 0xffffffff;
const SEQUENCE_TAGS = new Set<number>([Tag.FailedSopSequence, Tag.ReferencedSopSequence]);
/** Explicit VRs with a reserved field and a 32-bit length (PS3.5 7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const MAX_DEPTH = 8;

interface Syntax {
  explicit: boolean;
  little: boolean;
}

function syntaxOf(transferSyntax: string): Syntax {
  if (transferSyntax === TS.ImplicitVRLittleEndian) return { explicit: false, little: true };
  if (transferSyntax === TS.ExplicitVRBigEndian) return { explicit: true, little: false };
  // Every other syntax, compressed ones included, writes a dataset without pixels as explicit LE.
  return { explicit: true, little: true };
}

function invalid(message: string): FerryError {
  return new FerryError('dicom.commitment_invalid', message);
}

class Reader {
  off = 0;
  constructor(
    readonly buf: Buffer,
    readonly syntax: Syntax,
  ) {}
  u16(at: number): number {
    return this.syntax.little ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }
  u32(at: number): number {
    return this.syntax.little ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  /** The next element's tag, VR (explicit syntaxes; '' for items and delimiters) and length. */
  header(end: number): { tag: number; vr: string; length: number } {
    if (this.off + 8 > end) throw invalid('the dataset ends inside an element header');
    const tag = ((this.u16(this.off) << 16) | this.u16(this.off + 2)) >>> 0;
    if (tag >>> 16 === 0xfffe || !this.syntax.explicit) {
      const length = this.u32(this.off + 4);
      this.off += 8;
      return { tag, vr: '', length };
    }
    const vr = this.buf.toString('latin1', this.off + 4, this.off + 6);
    if (LONG_VRS.has(vr)) {
      if (this.off + 12 > end) throw invalid('the dataset ends inside an element header');
      const length = this.u32(this.off + 8);
      this.off += 12;
      return { tag, vr, length };
    }
    const length = this.u16(this.off + 6);
    this.off += 8;
    return { tag, vr, length };
  }
}

type Visit = (tag: number, value: Buffer | undefined, r: Reader, end: number, depth: number) => boolean;

/**
 * Walks the elements from r.off to `end` (or to a delimiter of an undefined length). `visit` sees each
 * element with its value (undefined for a sequence) and returns true when it read the sequence itself.
 */
function walk(r: Reader, end: number, depth: number, visit: Visit): void {
  if (depth > MAX_DEPTH) throw invalid('sequences nest too deep');
  while (r.off < end) {
    const { tag, vr, length } = r.header(end);
    if (tag === Tag.ItemDelimitation || tag === Tag.SequenceDelimitation) return;
    // Implicit VR names no VR: the sequences we read are known by their tags.
    const isSequence = vr === 'SQ' || length === UNDEFINED || (!r.syntax.explicit && SEQUENCE_TAGS.has(tag));
    if (isSequence) {
      const seqEnd = length === UNDEFINED ? end : r.off + length;
      if (seqEnd > end) throw invalid(`element (${hexTag(tag)}) runs past the dataset`);
      if (!visit(tag, undefined, r, seqEnd, depth)) items(r, seqEnd, depth, () => undefined);
      if (length !== UNDEFINED) r.off = seqEnd;
      continue;
    }
    if (r.off + length > end) throw invalid(`element (${hexTag(tag)}) runs past the dataset`);
    const value = r.buf.subarray(r.off, r.off + length);
    r.off += length;
    visit(tag, value, r, end, depth);
  }
}

/** Reads the items of a sequence, handing each item's elements to `each`'s visitor. */
function items(r: Reader, end: number, depth: number, each: () => Visit | undefined): void {
  while (r.off < end) {
    const { tag, length } = r.header(end);
    if (tag === Tag.SequenceDelimitation) return;
    if (tag !== Tag.Item) throw invalid(`a sequence holds (${hexTag(tag)}) where an item belongs`);
    const itemEnd = length === UNDEFINED ? end : r.off + length;
    if (itemEnd > end) throw invalid('an item runs past its sequence');
    walk(r, itemEnd, depth + 1, each() ?? (() => false));
    if (length !== UNDEFINED) r.off = itemEnd;
  }
}

const text = (v: Buffer) => v.toString('latin1').replace(/[\0 ]+$/, '');
const hexTag = (tag: number) =>
  `${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')}`;

/**
 * Reads an N-ACTION-RQ dataset (Action Type 1): Transaction UID and Referenced SOP Sequence. Throws
 * `dicom.commitment_invalid` for a dataset that cannot be read or lacks what the request needs.
 */
export function parseCommitmentRequest(bytes: Buffer, transferSyntax: string): CommitmentRequest {
  let data = bytes;
  if (transferSyntax === TS.DeflatedExplicitVRLittleEndian) {
    try {
      data = inflateRawSync(bytes, { maxOutputLength: MAX_COMMITMENT_DATASET_BYTES });
    } catch (cause) {
      throw new FerryError('dicom.commitment_invalid', 'the deflated dataset cannot be inflated', { cause });
    }
  }
  const r = new Reader(data, syntaxOf(transferSyntax));
  let transactionUid: string | undefined;
  let refs: SopRef[] | undefined;
  try {
    walk(r, data.length, 0, (tag, value, reader, end, depth) => {
      if (depth !== 0) return false;
      if (tag === Tag.TransactionUid && value) transactionUid = text(value);
      if (tag === Tag.ReferencedSopSequence && !value) {
        refs = [];
        const list = refs;
        items(reader, end, depth, () => {
          const ref = { sopClassUid: '', sopInstanceUid: '' };
          list.push(ref);
          return (t, v) => {
            if (t === Tag.ReferencedSopClassUid && v) ref.sopClassUid = text(v);
            if (t === Tag.ReferencedSopInstanceUid && v) ref.sopInstanceUid = text(v);
            return false;
          };
        });
        return true;
      }
      return false;
    });
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError('dicom.commitment_invalid', 'the dataset cannot be read', { cause: err });
  }
  if (!transactionUid) throw invalid('the request has no Transaction UID (0008,1195)');
  if (!isValidUid(transactionUid)) throw invalid('the Transaction UID (0008,1195) is not a valid UID');
  if (!refs || refs.length === 0)
    throw invalid('the request has no Referenced SOP Sequence (0008,1199) items');
  refs.forEach((ref, i) => {
    if (!isValidUid(ref.sopClassUid) || !isValidUid(ref.sopInstanceUid))
      throw invalid(`Referenced SOP Sequence item ${i + 1} lacks a valid SOP Class or Instance UID`);
  });
  return { transactionUid, refs };
}

class Writer {
  constructor(readonly syntax: Syntax) {}

  element(tag: number, vr: string, value: Buffer): Buffer {
    const { explicit, little } = this.syntax;
    const long = !explicit || LONG_VRS.has(vr);
    const head = Buffer.alloc(explicit && long ? 12 : 8);
    const u16 = (v: number, at: number) => (little ? head.writeUInt16LE(v, at) : head.writeUInt16BE(v, at));
    const u32 = (v: number, at: number) => (little ? head.writeUInt32LE(v, at) : head.writeUInt32BE(v, at));
    u16(tag >>> 16, 0);
    u16(tag & 0xffff, 2);
    if (!explicit) u32(value.length, 4);
    else {
      head.write(vr, 4, 'latin1');
      if (long) u32(value.length, 8);
      else u16(value.length, 6);
    }
    return Buffer.concat([head, value]);
  }

  uid(tag: number, uid: string): Buffer {
    const v = Buffer.from(uid.length % 2 === 1 ? `${uid}\0` : uid, 'latin1');
    return this.element(tag, 'UI', v);
  }

  us(tag: number, n: number): Buffer {
    const v = Buffer.alloc(2);
    if (this.syntax.little) v.writeUInt16LE(n, 0);
    else v.writeUInt16BE(n, 0);
    return this.element(tag, 'US', v);
  }

  /** A sequence and its items with defined lengths (items are tagged the same in every syntax). */
  sequence(tag: number, itemBodies: Buffer[]): Buffer {
    const body = Buffer.concat(
      itemBodies.map((b) => {
        const head = Buffer.alloc(8);
        const little = this.syntax.little;
        if (little) {
          head.writeUInt16LE(0xfffe, 0);
          head.writeUInt16LE(0xe000, 2);
          head.writeUInt32LE(b.length, 4);
        } else {
          head.writeUInt16BE(0xfffe, 0);
          head.writeUInt16BE(0xe000, 2);
          head.writeUInt32BE(b.length, 4);
        }
        return Buffer.concat([head, b]);
      }),
    );
    return this.element(tag, 'SQ', body);
  }

  ref(r: SopRef, reason?: number): Buffer {
    return Buffer.concat([
      this.uid(Tag.ReferencedSopClassUid, r.sopClassUid),
      this.uid(Tag.ReferencedSopInstanceUid, r.sopInstanceUid),
      ...(reason === undefined ? [] : [this.us(Tag.FailureReason, reason)]),
    ]);
  }
}

/** Event Type ID of the N-EVENT-REPORT: 1 all committed, 2 failures exist (PS3.4 J.3.3). */
export function eventTypeOf(result: CommitmentResult): 1 | 2 {
  return result.failed.length === 0 ? 1 : 2;
}

/**
 * The N-EVENT-REPORT-RQ dataset: Transaction UID, Failed SOP Sequence (with Failure Reasons) when
 * any failed, Referenced SOP Sequence when any was committed; tags in ascending order.
 */
export function encodeCommitmentResult(result: CommitmentResult, transferSyntax: string): Buffer {
  const w = new Writer(syntaxOf(transferSyntax));
  const parts = [w.uid(Tag.TransactionUid, result.transactionUid)];
  if (result.failed.length > 0)
    parts.push(
      w.sequence(
        Tag.FailedSopSequence,
        result.failed.map((f) => w.ref(f, f.reason)),
      ),
    );
  if (result.committed.length > 0)
    parts.push(
      w.sequence(
        Tag.ReferencedSopSequence,
        result.committed.map((c) => w.ref(c)),
      ),
    );
  const plain = Buffer.concat(parts);
  // A requester that proposed deflate reads the whole dataset as one deflate stream (PS3.5 A.5).
  return transferSyntax === TS.DeflatedExplicitVRLittleEndian ? deflateRawSync(plain) : plain;
}

/** Reads an N-EVENT-REPORT dataset back (the tests' check of what we send, and a requester's view). */
export function parseCommitmentResult(bytes: Buffer, transferSyntax: string): CommitmentResult {
  if (transferSyntax === TS.DeflatedExplicitVRLittleEndian)
    return parseCommitmentResult(inflateRawSync(bytes), TS.ExplicitVRLittleEndian);
  const r = new Reader(bytes, syntaxOf(transferSyntax));
  const result: CommitmentResult = { transactionUid: '', committed: [], failed: [] };
  walk(r, bytes.length, 0, (tag, value, reader, end, depth) => {
    if (depth !== 0) return false;
    if (tag === Tag.TransactionUid && value) result.transactionUid = text(value);
    if ((tag === Tag.ReferencedSopSequence || tag === Tag.FailedSopSequence) && !value) {
      const failed = tag === Tag.FailedSopSequence;
      items(reader, end, depth, () => {
        const ref: SopRef & { reason?: number } = { sopClassUid: '', sopInstanceUid: '' };
        if (!failed) result.committed.push(ref);
        else result.failed.push(Object.assign(ref, { reason: 0 }));
        return (t, v) => {
          if (t === Tag.ReferencedSopClassUid && v) ref.sopClassUid = text(v);
          if (t === Tag.ReferencedSopInstanceUid && v) ref.sopInstanceUid = text(v);
          if (t === Tag.FailureReason && v && v.length >= 2)
            ref.reason = reader.syntax.little ? v.readUInt16LE(0) : v.readUInt16BE(0);
          return false;
        };
      });
      return true;
    }
    return false;
  });
  return result;
}
