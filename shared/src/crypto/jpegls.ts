/// <reference path="./charls-module.d.cts" />
/**
 * JPEG-LS (CharLS, as WebAssembly) for one band of native pixel samples: whole rows of one image
 * frame, at most MAX_RAW_FRAME_BYTES, coded losslessly so that decoding gives back the exact bytes.
 *
 * The samples are mapped before coding, and back after decoding, by a bijection on the sample word:
 * read in the band's byte order, the sign bit flipped for signed data (so -1 and 0 are neighbours),
 * then the band's least value subtracted modulo the word. JPEG-LS then codes at the fewest bits that
 * hold the band's range. Any 8- or 16-bit word round-trips whatever Bits Stored says, with unused
 * high bits set or overlays in them; it is the same words either way.
 *
 * The module is loaded once per thread from the .wasm bytes the caller supplies (shared does no
 * I/O). Encoding and decoding are synchronous: a 512×512 16-bit band takes ~7 ms each way here.
 */
import charlsFactory from '@cornerstonejs/codec-charls/wasmjs';
import { FerryError } from '../errors/index.js';
import { MAX_RAW_FRAME_BYTES } from './compression.js';

/** What a band's raw bytes are: `height` rows of `width` pixels of `components` samples each. */
export interface PixelBand {
  width: number;
  height: number;
  /** 1 (greyscale, palette, or a colour plane), or 3 (colour by pixel). */
  components: 1 | 3;
  sampleBytes: 1 | 2;
  bigEndian: boolean;
  signed: boolean;
}

/** Plaintext header of a JPEG-LS data frame, after its codec byte. */
export const JPEGLS_HEADER_BYTES = 15;

const FLAG_BIG_ENDIAN = 0x01;
const FLAG_SIGNED = 0x02;
const INTERLEAVE_SAMPLE = 2;

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface CharlsEncoder {
  getDecodedBuffer(info: FrameInfo & { isSigned: boolean }): Uint8Array;
  setNearLossless(n: number): void;
  setInterleaveMode(mode: number): void;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
interface CharlsDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface CharlsModule {
  JpegLSEncoder: new () => CharlsEncoder;
  JpegLSDecoder: new () => CharlsDecoder;
}

let charls: CharlsModule | undefined;
let loader: (() => Promise<Uint8Array>) | undefined;
let loading: Promise<void> | undefined;

/**
 * Says where this thread's CharLS .wasm bytes come from (each program reads its own copy); the
 * module loads on first use. Later calls keep the first source.
 */
export function provideJpegLsWasm(load: () => Promise<Uint8Array>): void {
  loader ??= load;
}

/** Loads CharLS into this thread, once; rejects if no program said where its bytes are. */
export function loadJpegLs(): Promise<void> {
  if (charls) return Promise.resolve();
  if (!loader)
    return Promise.reject(
      new FerryError('internal.unexpected', 'JPEG-LS has no .wasm source in this program'),
    );
  loading ??= loader()
    .then((wasmBinary) => charlsFactory({ wasmBinary }))
    .then((m) => {
      charls = m as CharlsModule;
    });
  return loading;
}

/** As provideJpegLsWasm with bytes in hand, then loadJpegLs. */
export function initJpegLs(wasmBinary: Uint8Array): Promise<void> {
  provideJpegLsWasm(async () => wasmBinary);
  return loadJpegLs();
}

export function jpegLsReady(): boolean {
  return charls !== undefined;
}

function module(): CharlsModule {
  if (!charls) throw new FerryError('internal.unexpected', 'JPEG-LS is used before loadJpegLs()');
  return charls;
}

function bad(message: string, cause?: unknown): FerryError {
  return new FerryError('crypto.bad_object', message, cause === undefined ? {} : { cause });
}

export function bandBytes(b: PixelBand): number {
  return b.width * b.height * b.components * b.sampleBytes;
}

/** The band's samples as words, sign-flipped when signed; and their least and greatest. */
function words(raw: Buffer, b: PixelBand): { w: Uint16Array | Uint8Array; min: number; max: number } {
  const n = raw.length / b.sampleBytes;
  const w = b.sampleBytes === 2 ? new Uint16Array(n) : new Uint8Array(n);
  const flip = b.signed ? (b.sampleBytes === 2 ? 0x8000 : 0x80) : 0;
  let min = 0xffff;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v =
      (b.sampleBytes === 1 ? raw[i]! : b.bigEndian ? raw.readUInt16BE(i * 2) : raw.readUInt16LE(i * 2)) ^
      flip;
    w[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { w, min, max };
}

/**
 * The band as a JPEG-LS data frame's plaintext (without its codec byte): header, then the bitstream.
 * Throws if CharLS refuses; callers fall back to zstd then, and check with decodeJpegLsFrame first.
 */
export function encodeJpegLsFrame(raw: Buffer, b: PixelBand): Buffer {
  if (raw.length !== bandBytes(b) || raw.length > MAX_RAW_FRAME_BYTES)
    throw new RangeError(`a band of ${b.width}×${b.height} is ${bandBytes(b)} bytes, got ${raw.length}`);
  const { w, min, max } = words(raw, b);
  const mask = b.sampleBytes === 2 ? 0xffff : 0xff;
  for (let i = 0; i < w.length; i++) w[i] = (w[i]! - min) & mask;
  const bits = Math.max(2, 32 - Math.clz32(max - min));
  const enc = new (module().JpegLSEncoder)();
  try {
    const input = enc.getDecodedBuffer({
      width: b.width,
      height: b.height,
      bitsPerSample: bits,
      componentCount: b.components,
      isSigned: false,
    });
    // CharLS takes one byte a sample up to 8 bits: a 16-bit band of narrow range is packed.
    input.set(
      bits <= 8 && w instanceof Uint16Array
        ? Uint8Array.from(w)
        : new Uint8Array(w.buffer, w.byteOffset, w.byteLength),
    );
    enc.setNearLossless(0);
    if (b.components === 3) enc.setInterleaveMode(INTERLEAVE_SAMPLE);
    enc.encode();
    const stream = enc.getEncodedBuffer();
    const out = Buffer.allocUnsafe(JPEGLS_HEADER_BYTES + stream.length);
    out[0] = b.sampleBytes;
    out[1] = b.components;
    out[2] = (b.bigEndian ? FLAG_BIG_ENDIAN : 0) | (b.signed ? FLAG_SIGNED : 0);
    out[3] = bits;
    out.writeUInt16BE(min, 4);
    out.writeUInt32BE(b.width, 6);
    out.writeUInt32BE(b.height, 10);
    out[14] = 0;
    out.set(stream, JPEGLS_HEADER_BYTES);
    return out;
  } finally {
    enc.delete();
  }
}

/** The band a frame's header describes, checked against the limits before anything is decoded. */
function readBand(frame: Buffer): { band: PixelBand; bits: number; base: number } {
  if (frame.length < JPEGLS_HEADER_BYTES + 4) throw bad('JPEG-LS frame is too short');
  const sampleBytes = frame[0]!;
  const components = frame[1]!;
  const flags = frame[2]!;
  const bits = frame[3]!;
  if (sampleBytes !== 1 && sampleBytes !== 2) throw bad('JPEG-LS frame has a bad sample size');
  if (components !== 1 && components !== 3) throw bad('JPEG-LS frame has a bad component count');
  if (flags & ~(FLAG_BIG_ENDIAN | FLAG_SIGNED) || frame[14] !== 0) throw bad('JPEG-LS frame has bad flags');
  if (bits < 2 || bits > sampleBytes * 8) throw bad('JPEG-LS frame has a bad bit depth');
  const band: PixelBand = {
    width: frame.readUInt32BE(6),
    height: frame.readUInt32BE(10),
    components,
    sampleBytes,
    bigEndian: (flags & FLAG_BIG_ENDIAN) !== 0,
    signed: (flags & FLAG_SIGNED) !== 0,
  };
  const bytes = bandBytes(band);
  if (band.width === 0 || band.height === 0 || bytes > MAX_RAW_FRAME_BYTES)
    throw bad('JPEG-LS frame would decode to more than one frame of data');
  return { band, bits, base: frame.readUInt16BE(4) };
}

/**
 * The JPEG-LS stream's own frame header (SOF55, ITU-T T.87 C.2.2) must say what ours says, before
 * CharLS sizes its output from it: a hostile stream must not make it allocate gigabytes.
 */
function checkStreamHeader(stream: Buffer, band: PixelBand, bits: number): void {
  if (stream[0] !== 0xff || stream[1] !== 0xd8) throw bad('JPEG-LS stream does not start with SOI');
  let pos = 2;
  while (pos + 4 <= stream.length) {
    if (stream[pos] !== 0xff) throw bad('JPEG-LS stream has a malformed marker');
    const marker = stream[pos + 1]!;
    const length = stream.readUInt16BE(pos + 2);
    if (marker === 0xf7) {
      if (pos + 10 > stream.length) throw bad('JPEG-LS frame header is truncated');
      const ok =
        stream[pos + 4] === bits &&
        stream.readUInt16BE(pos + 5) === band.height &&
        stream.readUInt16BE(pos + 7) === band.width &&
        stream[pos + 9] === band.components;
      if (!ok) throw bad('JPEG-LS stream does not match its frame header');
      return;
    }
    if (marker === 0xda) break;
    pos += 2 + length;
  }
  throw bad('JPEG-LS stream has no frame header');
}

/** Decodes a JPEG-LS data frame's plaintext (without its codec byte) to the band's exact bytes. */
export function decodeJpegLsFrame(frame: Buffer): Buffer {
  const { band, bits, base } = readBand(frame);
  const stream = frame.subarray(JPEGLS_HEADER_BYTES);
  checkStreamHeader(stream, band, bits);
  const dec = new (module().JpegLSDecoder)();
  try {
    dec.getEncodedBuffer(stream.length).set(stream);
    try {
      dec.decode();
    } catch (cause) {
      throw bad('JPEG-LS frame cannot be decoded', cause);
    }
    const decoded = dec.getDecodedBuffer();
    const bytes = bandBytes(band);
    const codedBytes = bits <= 8 ? 1 : 2;
    if (decoded.byteLength !== (bytes / band.sampleBytes) * codedBytes)
      throw bad('JPEG-LS frame decoded to the wrong size');
    const out = Buffer.allocUnsafe(bytes);
    const mask = band.sampleBytes === 2 ? 0xffff : 0xff;
    const flip = band.signed ? (band.sampleBytes === 2 ? 0x8000 : 0x80) : 0;
    if (band.sampleBytes === 1) {
      for (let i = 0; i < bytes; i++) out[i] = ((decoded[i]! + base) & mask) ^ flip;
    } else {
      const w = codedBytes === 1 ? decoded : new Uint16Array(decoded.buffer, decoded.byteOffset, bytes / 2);
      for (let i = 0; i < w.length; i++) {
        const v = ((w[i]! + base) & mask) ^ flip;
        if (band.bigEndian) out.writeUInt16BE(v, i * 2);
        else out.writeUInt16LE(v, i * 2);
      }
    }
    return out;
  } finally {
    dec.delete();
  }
}

/**
 * Encodes a band and decodes the result once: the frame only if it gives back exactly `raw` and is
 * smaller, else undefined (the caller seals zstd). A codec bug must never become a lost image.
 */
export function encodeJpegLsVerified(raw: Buffer, b: PixelBand): Buffer | undefined {
  let frame: Buffer;
  try {
    frame = encodeJpegLsFrame(raw, b);
  } catch {
    return undefined;
  }
  if (frame.length >= raw.length) return undefined;
  try {
    return decodeJpegLsFrame(frame).equals(raw) ? frame : undefined;
  } catch {
    return undefined;
  }
}
