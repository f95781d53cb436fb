/**
 * Lossless transcoding of a whole Part-10 instance to Explicit VR Little Endian (or its deflated
 * form), for WADO-RS retrieves that do not ask for the stored syntax (PS3.18 8.7.3.4).
 *
 * Works on the bytes, not on a parsed-and-rewritten dataset: every element other than Pixel Data is
 * carried over with its value bytes untouched (only re-headed from implicit VR, or byte-swapped from
 * big endian per VR), so nothing a DICOM library would "normalise" (numbers, dates, padding, private
 * tags) changes. Compressed frames are decoded by the codecs in a worker thread (codec-pool.ts).
 * Needs the instance in memory: callers cap its size (maxBytes).
 *
 * Here: the file meta group and the choice of path. The syntaxes are classed in transcode-syntaxes.ts,
 * implicit and big endian datasets re-encoded by reencode-elements.ts, encapsulated pixels decoded by
 * decode-encapsulated.ts, all on the element layout of element-bytes.ts.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { FerryError, TS } from '@ferry/shared';
import { decodeDataset } from './decode-encapsulated.js';
import {
  Chunks,
  EXPLICIT_LE,
  elementEnd,
  elementHeader,
  IMPLICIT_LE,
  readHeader,
  valueBytes,
} from './element-bytes.js';
import { newPixelModule } from './pixel-module.js';
import { convertElements } from './reencode-elements.js';
import {
  canTranscodeLosslessly,
  DEFLATED,
  ELE,
  isLossySyntax,
  TRANSCODE_TARGETS,
} from './transcode-syntaxes.js';

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
