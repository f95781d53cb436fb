/**
 * Expected pixel data for frame tests, read by dcmjs (not by the code under test), and a generated
 * native multi-frame. No vitest import here.
 */
import { arrayBufferOf, dcmjs } from '../../control-plane/src/dicom/dcmjs.js';
import { readSample, type SampleChanges } from './seal-object.js';

/** Pixel Data frames as dcmjs reads the file: encapsulated by frame; native cut into `frameBytes` pieces. */
export function dcmjsFrames(part10: Buffer, frameBytes?: number): Buffer[] {
  const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(part10));
  const value = file.dict['7FE00010']?.Value;
  if (!Array.isArray(value)) throw new Error('no Pixel Data');
  const frames = value.map((v) => Buffer.from(v as ArrayBuffer));
  if (frameBytes === undefined) return frames;
  const whole = Buffer.concat(frames);
  const out: Buffer[] = [];
  for (let at = 0; at + frameBytes <= whole.length; at += frameBytes)
    out.push(whole.subarray(at, at + frameBytes));
  return out;
}

/** Bytes of one frame of nativeMultiFrame. */
export const MULTI_FRAME_BYTES = 64 * 64 * 2;

/** A native multi-frame: MR_small's header with `frames` distinct frames of 64 x 64 x 16 bits. */
export async function nativeMultiFrame(frames: number, set: SampleChanges = {}): Promise<Buffer> {
  const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(await readSample('MR_small.dcm')));
  const pixels = Buffer.alloc(frames * MULTI_FRAME_BYTES);
  for (let i = 0; i < pixels.length; i += 2)
    pixels.writeUInt16LE((i * 7 + Math.floor(i / MULTI_FRAME_BYTES)) & 0xffff, i);
  file.dict['00280008'] = { vr: 'IS', Value: [frames] };
  file.dict['7FE00010'] = { vr: 'OW', Value: [arrayBufferOf(pixels)] };
  if (set.studyInstanceUid) file.dict['0020000D'] = { vr: 'UI', Value: [set.studyInstanceUid] };
  if (set.seriesInstanceUid) file.dict['0020000E'] = { vr: 'UI', Value: [set.seriesInstanceUid] };
  if (set.sopInstanceUid) {
    file.dict['00080018'] = { vr: 'UI', Value: [set.sopInstanceUid] };
    file.meta['00020003'] = { vr: 'UI', Value: [set.sopInstanceUid] };
  }
  return Buffer.from(file.write());
}
