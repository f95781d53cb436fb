/**
 * The frames of a corpus file, read independently of the control plane's frame index: what
 * renderFrame gets for each frame (native pixels in little endian, or each frame's compressed
 * bitstream). Encapsulated Pixel Data is walked item by item with lengths, so a fragment holding the
 * bytes of a sequence delimiter is read whole.
 *
 * No vitest import here.
 */
import { readFile } from 'node:fs/promises';
import { isEncapsulated, TS } from '@ferry/shared';
import { arrayBufferOf, dcmjs } from '../../control-plane/src/dicom/dcmjs.js';
import { type DicomJson, firstString, parseDicomHeader } from '../../control-plane/src/dicom/dicom-json.js';
import type { FrameToRender } from '../../control-plane/src/dicom/render-frame.js';
import { DICOM_SAMPLES_DIR } from './seal-object.js';

export interface SampleFrames {
  metadata: DicomJson;
  transferSyntaxUid: string;
  frames: Buffer[];
}

const ITEM = 0xe000fffe;
const SEQUENCE_DELIMITER = 0xe0ddfffe;
const PIXEL_DATA_TAG = Buffer.from([0xe0, 0x7f, 0x10, 0x00]);

/** Where the items of the last (7FE0,0010) of undefined length start (explicit VR little endian, OB or OW). */
function encapsulatedStart(file: Buffer): number {
  for (let at = file.lastIndexOf(PIXEL_DATA_TAG); at >= 0; at = file.lastIndexOf(PIXEL_DATA_TAG, at - 1)) {
    if (at + 12 <= file.length && file.readUInt32LE(at + 8) === 0xffffffff) return at + 12;
  }
  throw new Error('no encapsulated Pixel Data');
}

function encapsulatedFrames(file: Buffer, numberOfFrames: number): Buffer[] {
  let at = encapsulatedStart(file);
  const items: { offset: number; bytes: Buffer }[] = [];
  let basicOffsetTable: Buffer | undefined;
  let base = 0;
  while (at + 8 <= file.length) {
    const tag = file.readUInt32LE(at);
    const length = file.readUInt32LE(at + 4);
    if (tag === SEQUENCE_DELIMITER) break;
    if (tag !== ITEM) throw new Error(`unexpected tag ${tag.toString(16)} in Pixel Data`);
    const bytes = file.subarray(at + 8, at + 8 + length);
    if (basicOffsetTable === undefined) {
      basicOffsetTable = bytes;
      base = at + 8 + length;
    } else items.push({ offset: at - base, bytes });
    at += 8 + length;
  }
  if (numberOfFrames === 1) return [Buffer.concat(items.map((i) => i.bytes))];
  if (items.length === numberOfFrames) return items.map((i) => i.bytes);
  const starts: number[] = [];
  for (let i = 0; i + 4 <= (basicOffsetTable?.length ?? 0); i += 4)
    starts.push(basicOffsetTable!.readUInt32LE(i));
  if (starts.length !== numberOfFrames) throw new Error('fragmented frames without an offset table');
  return starts.map((start, f) =>
    Buffer.concat(
      items.filter((i) => i.offset >= start && i.offset < (starts[f + 1] ?? Infinity)).map((i) => i.bytes),
    ),
  );
}

function swapped(bytes: Buffer, bitsAllocated: number): Buffer {
  const out = Buffer.from(bytes);
  if (bitsAllocated === 16) out.swap16();
  else if (bitsAllocated === 32) out.swap32();
  return out;
}

/** The header, stored syntax and frames of a file of the corpus (or of any Part-10 bytes). */
export async function sampleFrames(nameOrBytes: string | Buffer): Promise<SampleFrames> {
  const file =
    typeof nameOrBytes === 'string' ? await readFile(`${DICOM_SAMPLES_DIR}/${nameOrBytes}`) : nameOrBytes;
  const header = await parseDicomHeader(file, { whole: true });
  const ts = header.transferSyntaxUid ?? TS.ImplicitVRLittleEndian;
  const md = header.metadata;
  const numberOfFrames = Number(firstString(md, '00280008') ?? 1);
  if (isEncapsulated(ts))
    return { metadata: md, transferSyntaxUid: ts, frames: encapsulatedFrames(file, numberOfFrames) };
  // Native: dcmjs inflates a deflated dataset; big-endian words are swapped here.
  const dict = dcmjs.data.DicomMessage.readFile(arrayBufferOf(file), { ignoreErrors: true }).dict;
  const value = dict['7FE00010']?.Value;
  const first = Array.isArray(value) ? value[0] : undefined;
  if (!(first instanceof ArrayBuffer)) throw new Error('no Pixel Data');
  const bitsAllocated = Number(firstString(md, '00280100'));
  const pixels =
    ts === TS.ExplicitVRBigEndian ? swapped(Buffer.from(first), bitsAllocated) : Buffer.from(first);
  const frameBytes =
    bitsAllocated === 1
      ? pixels.length / numberOfFrames
      : (Number(firstString(md, '00280010')) *
          Number(firstString(md, '00280011')) *
          // YBR_FULL_422 native keeps two samples per pixel (Y Y Cb Cr for each pair).
          (firstString(md, '00280004') === 'YBR_FULL_422' ? 2 : Number(firstString(md, '00280002') ?? 1)) *
          bitsAllocated) /
        8;
  const frames = Array.from({ length: numberOfFrames }, (_, f) =>
    pixels.subarray(f * frameBytes, (f + 1) * frameBytes),
  );
  return { metadata: md, transferSyntaxUid: ts, frames };
}

/** Frame `frameNumber` (1-based) of a sample, as renderFrame takes it. */
export function frameToRender(s: SampleFrames, frameNumber = 1): FrameToRender {
  return {
    metadata: s.metadata,
    transferSyntaxUid: s.transferSyntaxUid,
    frameNumber,
    frame: s.frames[frameNumber - 1]!,
  };
}
