import { createDecipheriv, createHash } from 'node:crypto';
import { FerryError } from '../errors/index.js';
import { decompressFrame, MAX_ZSTD_FRAME_BYTES } from './compression.js';
import {
  FRAME_HEADER_BYTES,
  FrameFlag,
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  OBJECT_FORMAT_VERSION,
  OBJECT_MAGIC,
  type ObjectHeader,
  objectHeaderSchema,
  PREAMBLE_BYTES,
  TAG_BYTES,
} from './format.js';
import {
  decodeImageFrame,
  type FrameCodecName,
  frameCodecOf,
  MAX_IMAGE_FRAME_BYTES,
} from './image-frames.js';
import { frameAad, frameNonce } from './seal.js';

/** Where a sealed frame lies in the object: from its frame header to the end of its tag. */
export interface SealedFrameSpan {
  index: number;
  flags: number;
  /** Byte offset of the frame header in the object. */
  offset: number;
  /** Frame header, ciphertext and tag. */
  length: number;
}

export type OpenedPart =
  | {
      kind: 'header';
      header: ObjectHeader;
      /** SHA-256 of the preamble and header bytes: every frame's AAD starts with it. */
      digest: Buffer;
      /** Where the first frame starts. */
      frameStart: number;
    }
  | { kind: 'manifest'; manifest: unknown }
  | {
      kind: 'data';
      bytes: Buffer;
      frame: SealedFrameSpan;
      /** How the frame travelled: an image object's frame codec, else the object's compression. */
      codec: DataFrameCodec;
    };

/** How one data frame was coded in its object. */
export type DataFrameCodec = 'none' | FrameCodecName;

/** Pulls exact byte counts from an async byte source without holding more than one frame. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Uint8Array>;
  private done = false;
  /** Bytes handed out so far: the offset of the next read in the source. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it = (async function* () {
      yield* source;
    })();
  }

  async read(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (this.buf.length === 0) {
        // A view, not a copy: sources hand over fresh chunks (streams), never refill one they yielded.
        const v = next.value;
        this.buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      } else this.buf = Buffer.concat([this.buf, next.value]);
    }
    if (this.buf.length < n) {
      if (this.buf.length === 0 && this.done) return undefined;
      throw new FerryError('crypto.bad_object', 'object is truncated');
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.position += n;
    return out;
  }
}

export function parseHeader(json: Buffer): ObjectHeader {
  try {
    return objectHeaderSchema.parse(JSON.parse(json.toString('utf8')));
  } catch (cause) {
    throw new FerryError('crypto.bad_object', 'object header is not a valid Ferry v1 header', { cause });
  }
}

/**
 * Authenticates and decrypts one sealed frame (`sealed` = ciphertext then tag) at `index` of the object
 * whose header hashes to `digest`. The one place frames are opened, whether read in order or at random.
 */
export function openSealedFrame(
  key: Buffer,
  digest: Buffer,
  index: number,
  flags: number,
  sealed: Buffer,
): Buffer {
  if (sealed.length < TAG_BYTES) throw new FerryError('crypto.bad_object', `frame ${index} is truncated`);
  const length = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, frameNonce(index));
  decipher.setAAD(frameAad(digest, index, flags));
  decipher.setAuthTag(sealed.subarray(length));
  try {
    const plain = decipher.update(sealed.subarray(0, length));
    // GCM's final() gives no bytes (it checks the tag): no copy to join them.
    const rest = decipher.final();
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  } catch (cause) {
    throw new FerryError('crypto.bad_object', `frame ${index} failed authentication`, { cause });
  }
}

/** A data frame's raw bytes: its plaintext, decoded as the object's compression says. */
export function frameData(plain: Buffer, compression: ObjectCompression): Promise<Buffer> | Buffer {
  if (plain.length === 0 || compression === 'none') return plain;
  return compression === 'zstd' ? decompressFrame(plain) : decodeImageFrame(plain);
}

/** How a data frame's plaintext is coded: an image object's frame names its codec in its first byte. */
export function frameCodec(plain: Buffer, compression: ObjectCompression): DataFrameCodec {
  return compression === 'image' ? frameCodecOf(plain) : compression;
}

/** The compressions openObject reads. */
export type ObjectCompression = 'none' | 'zstd' | 'image';

/** Frame plaintext at most, by compression: zstd and image frames decode to at most 1 MiB. */
function maxPlainBytes(c: ObjectCompression): number {
  return c === 'zstd' ? MAX_ZSTD_FRAME_BYTES : c === 'image' ? MAX_IMAGE_FRAME_BYTES : MAX_FRAME_BYTES;
}

/** The header's compression, if openObject can read it; throws crypto.bad_object if not. */
export function readableCompression(header: ObjectHeader): ObjectCompression {
  const c = header.compression;
  if (c === 'none' || c === 'zstd' || c === 'image') return c;
  throw new FerryError('crypto.bad_object', `object compression ${c} is not supported`);
}

/**
 * Opens a sealed object. `keyFor` receives the header (with its wrapped key) and returns the object
 * key. Yields the header, the manifest, then plaintext data in order; throws on any tampering.
 * Compressed objects yield raw bytes, decompressed one frame at a time. The source's chunks are read
 * in place, so a source must not refill a chunk once it has yielded it (streams never do).
 */
export async function* openObject(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  keyFor: (header: ObjectHeader) => Promise<Buffer>,
): AsyncGenerator<OpenedPart> {
  const reader = new ByteReader(source);
  const pre = await reader.read(PREAMBLE_BYTES);
  if (!pre?.subarray(0, OBJECT_MAGIC.length).equals(OBJECT_MAGIC)) {
    throw new FerryError('crypto.bad_object', 'not a Ferry object (bad magic)');
  }
  if (pre[OBJECT_MAGIC.length] !== OBJECT_FORMAT_VERSION) {
    throw new FerryError(
      'crypto.bad_object',
      `unsupported object format version ${pre[OBJECT_MAGIC.length]}`,
    );
  }
  const headerLength = pre.readUInt32BE(OBJECT_MAGIC.length + 1);
  if (headerLength > MAX_HEADER_BYTES) throw new FerryError('crypto.bad_object', 'object header too large');
  const json = await reader.read(headerLength);
  if (!json) throw new FerryError('crypto.bad_object', 'object is truncated');
  const header = parseHeader(json);
  const compression = readableCompression(header);
  const digest = createHash('sha256').update(pre).update(json).digest();
  yield { kind: 'header', header, digest, frameStart: reader.position };
  const key = await keyFor(header);

  for (let index = 0; ; index++) {
    const offset = reader.position;
    const fh = await reader.read(FRAME_HEADER_BYTES);
    if (!fh) throw new FerryError('crypto.bad_object', 'object is truncated (no final frame)');
    const flags = fh[0] ?? 0;
    const length = fh.readUInt32BE(1);
    if (length > MAX_FRAME_BYTES) throw new FerryError('crypto.bad_object', 'frame too large');
    if ((index === 0) !== Boolean(flags & FrameFlag.MANIFEST)) {
      throw new FerryError('crypto.bad_object', 'manifest frame missing or out of place');
    }
    if (index > 0 && length > maxPlainBytes(compression)) {
      throw new FerryError('crypto.bad_object', 'compressed frame too large');
    }
    const body = await reader.read(length + TAG_BYTES);
    if (!body) throw new FerryError('crypto.bad_object', 'object is truncated');
    const plain = openSealedFrame(key, digest, index, flags, body);
    if (flags & FrameFlag.MANIFEST) {
      yield { kind: 'manifest', manifest: JSON.parse(plain.toString('utf8')) as unknown };
    } else if (plain.length > 0) {
      const frame = { index, flags, offset, length: FRAME_HEADER_BYTES + length + TAG_BYTES };
      const codec = frameCodec(plain, compression);
      yield { kind: 'data', bytes: await frameData(plain, compression), frame, codec };
    }
    if (flags & FrameFlag.FINAL) {
      if ((await reader.read(1)) !== undefined) {
        throw new FerryError('crypto.bad_object', 'bytes after the final frame');
      }
      return;
    }
  }
}
