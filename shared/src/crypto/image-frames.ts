/**
 * DATA frames of an object whose header says `compression: 'image'`. Each frame's plaintext starts
 * with one codec byte, then that codec's payload, which decodes to at most MAX_RAW_FRAME_BYTES:
 *
 *   0 RAW     the bytes as they are (what did not shrink)
 *   1 ZSTD    one zstd frame, as in a 'zstd' object (compression.ts)
 *   2 JPEGLS  a band of native pixel samples (jpegls.ts): whole rows of one image frame
 *
 * Concatenating every frame's decoded bytes gives the Part-10 bytes exactly as received, as for any
 * other object: the codec is a transport encoding, never a transcode.
 */
import { FerryError } from '../errors/index.js';
import {
  type CompressedFrame,
  decompressFrame,
  MAX_RAW_FRAME_BYTES,
  MAX_ZSTD_FRAME_BYTES,
} from './compression.js';
import { decodeJpegLsFrame, JPEGLS_HEADER_BYTES, loadJpegLs } from './jpegls.js';

export const FrameCodec = { RAW: 0, ZSTD: 1, JPEGLS: 2 } as const;
export type FrameCodecName = 'raw' | 'zstd' | 'jpegls';

/** The largest plaintext of an image object's data frame. */
export const MAX_IMAGE_FRAME_BYTES =
  1 + Math.max(MAX_ZSTD_FRAME_BYTES, JPEGLS_HEADER_BYTES + MAX_RAW_FRAME_BYTES);

const codecByte = (c: number) => Buffer.from([c]);
const CODEC_BYTES = [codecByte(FrameCodec.RAW), codecByte(FrameCodec.ZSTD), codecByte(FrameCodec.JPEGLS)];

/** One data frame of an image object, ready to seal: its plaintext parts and what it decodes to. */
export interface CodedFrame {
  readonly parts: readonly Buffer[];
  readonly rawBytes: number;
  readonly codec: FrameCodecName;
}

export function rawCoded(parts: readonly Buffer[]): CodedFrame {
  const rawBytes = parts.reduce((n, p) => n + p.length, 0);
  if (rawBytes > MAX_RAW_FRAME_BYTES)
    throw new RangeError(`a frame holds at most ${MAX_RAW_FRAME_BYTES} bytes`);
  return { parts: [CODEC_BYTES[FrameCodec.RAW]!, ...parts], rawBytes, codec: 'raw' };
}

/** A zstd frame, or the raw bytes when zstd did not make them smaller. */
export function zstdCoded(frame: CompressedFrame, raw: readonly Buffer[]): CodedFrame {
  if (frame.zstd.length >= frame.rawBytes) return rawCoded(raw);
  return { parts: [CODEC_BYTES[FrameCodec.ZSTD]!, frame.zstd], rawBytes: frame.rawBytes, codec: 'zstd' };
}

/** A frame made by encodeJpegLsVerified (its header and bitstream), `rawBytes` being the band's size. */
export function jpegLsCoded(frame: Buffer, rawBytes: number): CodedFrame {
  return { parts: [CODEC_BYTES[FrameCodec.JPEGLS]!, frame], rawBytes, codec: 'jpegls' };
}

function bad(message: string): FerryError {
  return new FerryError('crypto.bad_object', message);
}

/** The codec a data frame's plaintext names; throws crypto.bad_object on an unknown one. */
export function frameCodecOf(plain: Buffer): FrameCodecName {
  switch (plain[0]) {
    case FrameCodec.RAW:
      return 'raw';
    case FrameCodec.ZSTD:
      return 'zstd';
    case FrameCodec.JPEGLS:
      return 'jpegls';
    default:
      throw bad(`image object frame has unknown codec ${plain[0]}`);
  }
}

/** Decodes one data frame of an image object to its raw bytes. */
export async function decodeImageFrame(plain: Buffer): Promise<Buffer> {
  if (plain.length > MAX_IMAGE_FRAME_BYTES) throw bad('image object frame is too large');
  const codec = frameCodecOf(plain);
  const body = plain.subarray(1);
  if (codec === 'zstd') return decompressFrame(body);
  if (codec === 'jpegls') {
    await loadJpegLs();
    return decodeJpegLsFrame(body);
  }
  if (body.length > MAX_RAW_FRAME_BYTES) throw bad('image object frame holds more than one frame of data');
  return body;
}
