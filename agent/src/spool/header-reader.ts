import { inflateRawSync, constants as zc } from 'node:zlib';
import {
  type CharacterSet,
  type CharsetIssue,
  characterSetOf,
  decodeText,
  FerryError,
  isNativeUncompressed,
  type TextVr,
  TS,
  textValues,
} from '@ferry/shared';
import dicomParser from 'dicom-parser';
import type { Logger } from 'pino';

export interface HeaderFields {
  sopClassUid?: string;
  sopInstanceUid?: string;
  patient: { name?: string; id?: string; birthDate?: string; sex?: string };
  study: {
    instanceUid?: string;
    date?: string;
    time?: string;
    description?: string;
    accessionNumber?: string;
    referringPhysician?: string;
  };
  series: { instanceUid?: string; modality?: string; number?: string; description?: string };
  numberOfFrames?: number;
  /** Set when text had to be decoded leniently: the Specific Character Set's terms and what was wrong. */
  charset?: { terms: readonly string[]; issues: CharsetIssue[] };
  /** Native top-level Pixel Data of defined length, and the attributes that lay it out (pixel-bands.ts). */
  pixels?: PixelLayout;
}

/**
 * Where a native dataset's Pixel Data value is and what it holds, as its attributes say. Only read,
 * never trusted for correctness: every band coded from it is decoded and compared before sealing.
 */
export interface PixelLayout {
  /** Offset of the Pixel Data value within the dataset (the bytes after File Meta Information). */
  valueOffset: number;
  valueLength: number;
  rows: number;
  columns: number;
  samplesPerPixel: number;
  photometricInterpretation: string;
  /** 0 (colour by pixel) when absent. */
  planarConfiguration: number;
  /** 1 when absent. */
  frames: number;
  bitsAllocated: number;
  pixelRepresentation: number;
  /** Explicit VR Big Endian: 16-bit words are stored most significant byte first. */
  bigEndian: boolean;
}

const PIXEL_DATA = 'x7fe00010';

export type HeaderParse = { state: 'complete'; fields: HeaderFields } | { state: 'need-more' };

/**
 * Reads worklist attributes from the first bytes of a dataset and stops at Pixel Data. The bytes
 * themselves are never altered: this only looks. `final` says no more bytes will come.
 */
export function readHeader(
  prefix: Buffer,
  transferSyntaxUid: string,
  final: boolean,
  capReached: boolean,
): HeaderParse {
  let body = prefix;
  if (transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian) {
    try {
      body = inflateRawSync(prefix, { finishFlush: zc.Z_SYNC_FLUSH });
    } catch (cause) {
      throw new FerryError('dicom.dataset_unreadable', 'deflated dataset cannot be inflated', { cause });
    }
  }
  const parseAs =
    transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian ? TS.ExplicitVRLittleEndian : transferSyntaxUid;
  let dataSet: dicomParser.DataSet | undefined;
  let error: unknown;
  try {
    dataSet = dicomParser.parseDicom(body, { TransferSyntaxUID: parseAs, untilTag: PIXEL_DATA });
  } catch (err) {
    error = err;
    dataSet = (err as { dataSet?: dicomParser.DataSet } | null)?.dataSet;
  }
  const reachedPixels = dataSet?.elements[PIXEL_DATA] !== undefined;
  if (!reachedPixels && !final && !capReached) return { state: 'need-more' };
  if (!dataSet) {
    throw new FerryError('dicom.dataset_unreadable', `dataset header cannot be parsed: ${String(error)}`, {
      cause: error,
    });
  }
  const fields = extract(dataSet, body.length);
  const pixels = isNativeUncompressed(transferSyntaxUid)
    ? pixelLayout(dataSet, transferSyntaxUid)
    : undefined;
  if (pixels) fields.pixels = pixels;
  return { state: 'complete', fields };
}

/** The Pixel Data layout of a native dataset, or undefined when it is missing, undefined-length or unreadable. */
function pixelLayout(ds: dicomParser.DataSet, transferSyntaxUid: string): PixelLayout | undefined {
  const px = ds.elements[PIXEL_DATA];
  if (!px || px.hadUndefinedLength || px.length <= 0) return undefined;
  const us = (tag: string): number | undefined => {
    const el = ds.elements[tag];
    return el && el.length === 2 && el.dataOffset + 2 <= px.dataOffset ? ds.uint16(tag) : undefined;
  };
  const rows = us('x00280010');
  const columns = us('x00280011');
  const bitsAllocated = us('x00280100');
  if (rows === undefined || columns === undefined || bitsAllocated === undefined) return undefined;
  const frames = ds.string('x00280008')?.trim();
  return {
    valueOffset: px.dataOffset,
    valueLength: px.length,
    rows,
    columns,
    samplesPerPixel: us('x00280002') ?? 1,
    photometricInterpretation: ds.string('x00280004')?.trim() ?? '',
    planarConfiguration: us('x00280006') ?? 0,
    frames: frames && /^\d+$/.test(frames) ? Number(frames) : 1,
    bitsAllocated,
    pixelRepresentation: us('x00280103') ?? 0,
    bigEndian: transferSyntaxUid === TS.ExplicitVRBigEndian,
  };
}

function extract(ds: dicomParser.DataSet, available: number): HeaderFields {
  const charset = characterSetOf(ascii(ds, 'x00080005', available));
  const issues = new Set<CharsetIssue>(charset.issues);
  const s = (tag: string) => ascii(ds, tag, available)?.trim() || undefined;
  const t = (tag: string, vr: TextVr) => text(ds, tag, available, vr, charset, issues);
  const frames = s('x00280008');
  const fields: HeaderFields = {
    sopClassUid: s('x00080016'),
    sopInstanceUid: s('x00080018'),
    patient: {
      name: t('x00100010', 'PN'),
      id: t('x00100020', 'LO'),
      birthDate: s('x00100030'),
      sex: s('x00100040'),
    },
    study: {
      instanceUid: s('x0020000d'),
      date: s('x00080020'),
      time: s('x00080030'),
      description: t('x00081030', 'LO'),
      accessionNumber: t('x00080050', 'SH'),
      referringPhysician: t('x00080090', 'PN'),
    },
    series: {
      instanceUid: s('x0020000e'),
      modality: s('x00080060'),
      number: s('x00200011'),
      description: t('x0008103e', 'LO'),
    },
    numberOfFrames: frames && /^\d+$/.test(frames) ? Number(frames) : undefined,
  };
  if (issues.size > 0) fields.charset = { terms: charset.terms, issues: [...issues] };
  return fields;
}

function bytesOf(ds: dicomParser.DataSet, tag: string, available: number): Uint8Array | undefined {
  const el = ds.elements[tag];
  if (!el || el.length <= 0 || el.dataOffset + el.length > available) return undefined;
  return ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
}

/** A value in the default repertoire (UIDs, dates, code strings): bytes as they are. */
function ascii(ds: dicomParser.DataSet, tag: string, available: number): string | undefined {
  const bytes = bytesOf(ds, tag, available);
  return (
    bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1').replace(/\0+$/, '')
  );
}

/** The first value of a text element, decoded per PS3.5 6.1.2.5 with the dataset's character set. */
function text(
  ds: dicomParser.DataSet,
  tag: string,
  available: number,
  vr: TextVr,
  charset: CharacterSet,
  issues: Set<CharsetIssue>,
): string | undefined {
  const bytes = bytesOf(ds, tag, available);
  if (!bytes) return undefined;
  const first = (textValues(decodeText(bytes, charset, vr, issues), vr)[0] ?? '').replace(/\0+$/, '').trim();
  // A person name as DICOM writes it, without trailing empty component groups (`Wang^XiaoDong=王^小東=`).
  return (vr === 'PN' ? first.replace(/=+$/, '') : first) || undefined;
}

const noted = new Set<string>();

/**
 * Logs, once per process for each character set and kind of problem, that text was decoded leniently:
 * a study of 2,000 instances with a misspelled term gives one line, not 2,000. Terms only, no values.
 */
export function noteLenientCharset(log: Logger, charset: NonNullable<HeaderFields['charset']>): void {
  const key = `${charset.terms.join('\\')}|${charset.issues.join(',')}`;
  if (noted.has(key) || noted.size > 256) return;
  noted.add(key);
  log.warn(
    { event: 'dicom.charset_lenient', specificCharacterSet: charset.terms, issues: charset.issues },
    'text of a received dataset was decoded leniently (unknown character set terms or escapes, or invalid bytes); stored as received',
  );
}
