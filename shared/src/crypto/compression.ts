/**
 * zstd for object frames. With `compression: 'zstd'` every DATA frame's plaintext is one independent
 * zstd frame of at most MAX_RAW_FRAME_BYTES raw bytes, so an object opens one frame at a time and a
 * reader never needs more than one frame of memory, compressed or not.
 *
 * The binding (@toondepauw/node-zstd) decodes a whole frame into one buffer with no output limit, so
 * a frame is checked before it is decoded: exactly one zstd frame, no dictionary, no trailing bytes,
 * and an upper bound on its output, from its block headers, within MAX_DECODE_BOUND. The sealed
 * objects come from agents, and one compromised agent must not make the control plane inflate a
 * 64 MiB frame of RLE blocks into terabytes.
 */
import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { FerryError } from '../errors/index.js';

export const ZSTD_LEVEL = 1;
/** Raw bytes in one compressed DATA frame, at most. */
export const MAX_RAW_FRAME_BYTES = 1 << 20;
/** ZSTD_compressBound(MAX_RAW_FRAME_BYTES): no valid frame of ours is larger. */
export const MAX_ZSTD_FRAME_BYTES = MAX_RAW_FRAME_BYTES + (MAX_RAW_FRAME_BYTES >> 8) + 64;
/**
 * Largest output a frame may be able to produce, by its block headers. A compressed block yields at
 * most 128 KiB, and zstd ≥ 1.5.6 may split 1 MiB of input into more than 8 blocks; 32 blocks leave
 * room for that. Our own encoder falls back to raw blocks above it (never seen in practice).
 */
export const MAX_DECODE_BOUND = 4 << 20;

const SYNC_DECODE_BYTES = 32 << 10;
const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_MAX = 128 << 10;
const BLOCK_RAW = 0;
const BLOCK_RLE = 1;
const BLOCK_COMPRESSED = 2;

// The Encoder and Decoder hold only the level and dictionary: the binding makes a zstd context per
// call, so one of each serves every caller.
const encoder = new Encoder(ZSTD_LEVEL);
const decoder = new Decoder();

/** A zstd frame made by compressFrame(), ready to be sealed as one DATA frame. */
export interface CompressedFrame {
  readonly zstd: Buffer;
  readonly rawBytes: number;
}

function bad(message: string, cause?: unknown): FerryError {
  return new FerryError('crypto.bad_object', message, cause === undefined ? {} : { cause });
}

function joinParts(parts: readonly Buffer[]): { raw: Buffer; length: number } {
  const length = parts.reduce((n, p) => n + p.length, 0);
  if (length > MAX_RAW_FRAME_BYTES)
    throw new RangeError(`a compressed frame holds at most ${MAX_RAW_FRAME_BYTES} bytes, got ${length}`);
  return { raw: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length), length };
}

/**
 * Output bound of one zstd frame from its headers (RFC 8878 §3.1.1), validating its structure.
 * Throws crypto.bad_object on anything but a single, dictionary-free zstd frame.
 */
export function zstdOutputBound(frame: Buffer): number {
  if (frame.length < 6) throw bad('compressed frame is too short');
  const magic = frame.readUInt32LE(0);
  if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) throw bad('skippable zstd frames are not allowed');
  if (magic !== ZSTD_MAGIC) throw bad('compressed frame is not zstd');
  const fhd = frame[4]!;
  if (fhd & 0x08) throw bad('zstd frame header has its reserved bit set');
  if (fhd & 0x03) throw bad('zstd frames with a dictionary are not allowed');
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  let pos = 5;
  let blockMax = BLOCK_MAX;
  if (!singleSegment) {
    const wd = frame[pos++]!;
    const exponent = wd >> 3;
    const base = 2 ** (10 + exponent);
    blockMax = Math.min(BLOCK_MAX, base + (base / 8) * (wd & 7));
  }
  if (pos + fcsBytes > frame.length) throw bad('zstd frame header is truncated');
  let contentSize: number | undefined;
  if (fcsBytes === 1) contentSize = frame[pos]!;
  else if (fcsBytes === 2) contentSize = frame.readUInt16LE(pos) + 256;
  else if (fcsBytes === 4) contentSize = frame.readUInt32LE(pos);
  else if (fcsBytes === 8) contentSize = Number(frame.readBigUInt64LE(pos));
  pos += fcsBytes;
  if (singleSegment && contentSize !== undefined) blockMax = Math.min(BLOCK_MAX, Math.max(contentSize, 1));
  let bound = 0;
  for (;;) {
    if (pos + 3 > frame.length) throw bad('zstd frame is truncated');
    const head = frame[pos]! | (frame[pos + 1]! << 8) | (frame[pos + 2]! << 16);
    pos += 3;
    const last = (head & 1) === 1;
    const type = (head >> 1) & 3;
    const size = head >>> 3;
    if (type === BLOCK_RAW || type === BLOCK_RLE) {
      if (size > blockMax) throw bad('zstd block is larger than the window allows');
      bound += size;
      pos += type === BLOCK_RAW ? size : 1;
    } else if (type === BLOCK_COMPRESSED) {
      if (size > blockMax) throw bad('zstd block is larger than the window allows');
      bound += blockMax;
      pos += size;
    } else {
      throw bad('zstd frame has a reserved block type');
    }
    if (bound > MAX_DECODE_BOUND) throw bad('compressed frame could inflate beyond the frame limit');
    if (last) break;
  }
  if (fhd & 0x04) pos += 4;
  if (pos !== frame.length) throw bad('compressed frame has bytes outside its zstd frame');
  if (contentSize !== undefined) bound = Math.min(bound, contentSize);
  return bound;
}

/**
 * A zstd frame holding `raw` in raw blocks: what our encoder would emit for incompressible data. Used
 * only when the encoder's own output fails zstdOutputBound, so writer and reader agree on every frame.
 */
function rawBlocksFrame(raw: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(raw.length / BLOCK_MAX));
  // Single segment with a 4-byte content size: magic, descriptor, FCS, then the blocks.
  const out = Buffer.allocUnsafe(4 + 1 + 4 + blocks * 3 + raw.length);
  out.writeUInt32LE(ZSTD_MAGIC, 0);
  out[4] = 0x80 | 0x20;
  out.writeUInt32LE(raw.length, 5);
  let pos = 9;
  for (let i = 0; i < blocks; i++) {
    const chunk = raw.subarray(i * BLOCK_MAX, (i + 1) * BLOCK_MAX);
    const head = (chunk.length << 3) | (BLOCK_RAW << 1) | (i === blocks - 1 ? 1 : 0);
    out[pos] = head & 0xff;
    out[pos + 1] = (head >> 8) & 0xff;
    out[pos + 2] = (head >> 16) & 0xff;
    chunk.copy(out, pos + 3);
    pos += 3 + chunk.length;
  }
  return out;
}

function checked(zstd: Buffer, raw: Buffer): Buffer {
  try {
    zstdOutputBound(zstd);
    return zstd;
  } catch {
    return rawBlocksFrame(raw);
  }
}

/** Compresses up to MAX_RAW_FRAME_BYTES into one zstd frame on the calling thread. */
export function compressFrameSync(parts: readonly Buffer[]): CompressedFrame {
  const { raw, length } = joinParts(parts);
  return { zstd: checked(encoder.encodeSync(raw), raw), rawBytes: length };
}

/**
 * As compressFrameSync, on libuv's thread pool, so the receive path's event loop keeps reading
 * sockets meanwhile. `parts` must not change until the promise settles.
 */
export async function compressFrame(parts: readonly Buffer[]): Promise<CompressedFrame> {
  const { raw, length } = joinParts(parts);
  return { zstd: checked(await encoder.encode(raw), raw), rawBytes: length };
}

/** Decodes one DATA frame's plaintext; refuses anything that could exceed one frame of raw bytes. */
export async function decompressFrame(frame: Buffer): Promise<Buffer> {
  if (frame.length > MAX_ZSTD_FRAME_BYTES) throw bad('compressed frame is too large');
  zstdOutputBound(frame);
  let raw: Buffer;
  try {
    // A small frame decodes faster than a round trip to the thread pool.
    raw = frame.length <= SYNC_DECODE_BYTES ? decoder.decodeSync(frame) : await decoder.decode(frame);
  } catch (cause) {
    throw bad('compressed frame cannot be decoded', cause);
  }
  if (raw.length > MAX_RAW_FRAME_BYTES) throw bad('compressed frame holds more than one frame of data');
  return raw;
}
