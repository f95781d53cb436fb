import { TextDecoder } from 'node:util';
import { inflateRawSync, constants as zc } from 'node:zlib';
import { FerryError, TS } from '@ferry/shared';
import dicomParser from 'dicom-parser';

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
}

/** Specific Character Set defined terms → WHATWG encoding labels (PS3.3 C.12.1.1.2). */
const CHARSETS: Record<string, string> = {
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 166': 'tis-620',
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
  'ISO 2022 IR 87': 'iso-2022-jp',
  'ISO 2022 IR 149': 'euc-kr',
  'ISO 2022 IR 13': 'shift_jis',
};

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
  return { state: 'complete', fields: extract(dataSet, body.length) };
}

function extract(ds: dicomParser.DataSet, available: number): HeaderFields {
  const charset = (raw(ds, 'x00080005', available, 'latin1') ?? '')
    .split('\\')
    .find((s) => s.trim() !== '')
    ?.trim();
  const encoding = (charset && CHARSETS[charset]) || 'latin1';
  const s = (tag: string) => raw(ds, tag, available, 'latin1')?.trim() || undefined;
  const t = (tag: string) => raw(ds, tag, available, encoding)?.trim() || undefined;
  const frames = s('x00280008');
  return {
    sopClassUid: s('x00080016'),
    sopInstanceUid: s('x00080018'),
    patient: { name: t('x00100010'), id: t('x00100020'), birthDate: s('x00100030'), sex: s('x00100040') },
    study: {
      instanceUid: s('x0020000d'),
      date: s('x00080020'),
      time: s('x00080030'),
      description: t('x00081030'),
      accessionNumber: t('x00080050'),
      referringPhysician: t('x00080090'),
    },
    series: {
      instanceUid: s('x0020000e'),
      modality: s('x00080060'),
      number: s('x00200011'),
      description: t('x0008103e'),
    },
    numberOfFrames: frames && /^\d+$/.test(frames) ? Number(frames) : undefined,
  };
}

const decoders = new Map<string, TextDecoder | null>();

function decoder(encoding: string): TextDecoder | null {
  let d = decoders.get(encoding);
  if (d === undefined) {
    try {
      d = new TextDecoder(encoding);
    } catch {
      d = null;
    }
    decoders.set(encoding, d);
  }
  return d;
}

function raw(ds: dicomParser.DataSet, tag: string, available: number, encoding: string): string | undefined {
  const el = ds.elements[tag];
  if (!el || el.length <= 0 || el.dataOffset + el.length > available) return undefined;
  const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  const text =
    encoding === 'latin1'
      ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1')
      : (decoder(encoding)?.decode(bytes) ?? Buffer.from(bytes).toString('latin1'));
  return text.replace(/\0+$/, '');
}
