import { createCipheriv, createHash } from 'node:crypto';
import { type CompressedFrame, compressFrameSync } from './compression.js';
import {
  FRAME_HEADER_BYTES,
  FrameFlag,
  OBJECT_FORMAT_VERSION,
  OBJECT_MAGIC,
  type ObjectHeader,
} from './format.js';
import type { CodedFrame } from './image-frames.js';

export function frameNonce(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

export function frameAad(headerDigest: Buffer, index: number, flags: number): Buffer {
  const aad = Buffer.alloc(headerDigest.length + 9);
  headerDigest.copy(aad, 0);
  aad.writeBigUInt64BE(BigInt(index), headerDigest.length);
  aad[headerDigest.length + 8] = flags;
  return aad;
}

/**
 * Seals one object frame by frame. Callers hand in plaintext as a list of buffers (for example PDV
 * slices straight off the socket) and get back buffers to write with writev: nothing is concatenated.
 * With `compression: 'zstd'` sealData compresses each frame on the calling thread; a caller that
 * compresses elsewhere (compressFrame, on the thread pool) hands the result to sealCompressed.
 */
export class ObjectSealer {
  readonly headerBytes: Buffer;
  private readonly headerDigest: Buffer;
  private readonly zstd: boolean;
  private readonly image: boolean;
  private index = 0;
  private finished = false;

  constructor(
    header: ObjectHeader,
    private readonly objectKey: Buffer,
  ) {
    // The header type is checked at compile time; readers validate it with objectHeaderSchema.
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const pre = Buffer.alloc(OBJECT_MAGIC.length + 5);
    OBJECT_MAGIC.copy(pre, 0);
    pre[OBJECT_MAGIC.length] = OBJECT_FORMAT_VERSION;
    pre.writeUInt32BE(json.length, OBJECT_MAGIC.length + 1);
    this.headerBytes = Buffer.concat([pre, json]);
    this.headerDigest = createHash('sha256').update(this.headerBytes).digest();
    this.zstd = header.compression === 'zstd';
    this.image = header.compression === 'image';
    if (header.compression !== 'none' && !this.zstd && !this.image)
      throw new Error(`compression ${header.compression} is not supported`);
  }

  sealManifest(manifest: unknown): Buffer[] {
    if (this.index !== 0) throw new Error('the manifest must be the first frame');
    return this.seal([Buffer.from(JSON.stringify(manifest), 'utf8')], FrameFlag.MANIFEST);
  }

  /** Raw data of one frame (at most 1 MiB when compressing); empty parts make an empty frame. */
  sealData(parts: readonly Buffer[], final: boolean): Buffer[] {
    if (this.index === 0) throw new Error('the manifest frame comes first');
    if (this.image && parts.some((p) => p.length > 0))
      throw new Error('an image object seals coded frames (sealCoded)');
    const plain = this.zstd && parts.some((p) => p.length > 0) ? [compressFrameSync(parts).zstd] : parts;
    return this.seal(plain, final ? FrameFlag.FINAL : 0);
  }

  /** A frame compressed by compressFrame(); only for a sealer whose header says 'zstd'. */
  sealCompressed(frame: CompressedFrame, final: boolean): Buffer[] {
    if (this.index === 0) throw new Error('the manifest frame comes first');
    if (!this.zstd) throw new Error('this object is not compressed');
    return this.seal(frame.rawBytes > 0 ? [frame.zstd] : [], final ? FrameFlag.FINAL : 0);
  }

  /** A frame coded for an image object (image-frames.ts); only for a sealer whose header says 'image'. */
  sealCoded(frame: CodedFrame, final: boolean): Buffer[] {
    if (this.index === 0) throw new Error('the manifest frame comes first');
    if (!this.image) throw new Error('this object is not an image object');
    return this.seal(frame.rawBytes > 0 ? frame.parts : [], final ? FrameFlag.FINAL : 0);
  }

  private seal(parts: readonly Buffer[], flags: number): Buffer[] {
    if (this.finished) throw new Error('object already finished');
    const length = parts.reduce((n, p) => n + p.length, 0);
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    head[0] = flags;
    head.writeUInt32BE(length, 1);
    const cipher = createCipheriv('aes-256-gcm', this.objectKey, frameNonce(this.index));
    cipher.setAAD(frameAad(this.headerDigest, this.index, flags));
    const out: Buffer[] = [head];
    for (const p of parts) if (p.length > 0) out.push(cipher.update(p));
    const tail = cipher.final();
    if (tail.length > 0) out.push(tail);
    out.push(cipher.getAuthTag());
    this.index++;
    if (flags & FrameFlag.FINAL) this.finished = true;
    return out;
  }
}
