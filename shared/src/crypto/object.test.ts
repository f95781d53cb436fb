import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../errors/index.js';
import {
  type CodedFrame,
  type CompressedFrame,
  compressFrame,
  deriveObjectKey,
  encodeJpegLsVerified,
  generateRecipientKeyPair,
  initJpegLs,
  jpegLsCoded,
  MAX_RAW_FRAME_BYTES,
  newDataKey,
  type ObjectHeader,
  ObjectSealer,
  openObject,
  type PixelBand,
  rawCoded,
  unwrapDataKey,
  wrapDataKey,
  zstdCoded,
} from './index.js';

async function sealSample(
  chunks: Buffer[][],
  compression: ObjectHeader['compression'] = 'none',
  seal?: (sealer: ObjectSealer, parts: Buffer[], final: boolean) => Buffer[],
) {
  const { publicJwk, privateJwk } = await generateRecipientKeyPair();
  const epochKey = newDataKey();
  const header: ObjectHeader = {
    v: 1,
    objectId: 'obj_0123456789abcdef',
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    wrappedKey: await wrapDataKey(epochKey, publicJwk),
    compression,
    contentType: 'application/dicom',
    createdAt: new Date(0).toISOString(),
  };
  const sealer = new ObjectSealer(header, deriveObjectKey(epochKey, header.objectId));
  const frames: Buffer[] = [sealer.headerBytes, Buffer.concat(sealer.sealManifest({ hello: 'manifest' }))];
  chunks.forEach((parts, i) => {
    const final = i === chunks.length - 1;
    frames.push(Buffer.concat(seal ? seal(sealer, parts, final) : sealer.sealData(parts, final)));
  });
  const keyFor = async (h: ObjectHeader) =>
    deriveObjectKey(await unwrapDataKey(h.wrappedKey, [privateJwk]), h.objectId);
  return { frames, keyFor, privateJwk };
}

async function openAll(bytes: Buffer, keyFor: (h: ObjectHeader) => Promise<Buffer>, sliceBytes = 7) {
  const data: Buffer[] = [];
  const codecs: string[] = [];
  let manifest: unknown;
  async function* source() {
    // odd slice size exercises frame reassembly across reads
    for (let i = 0; i < bytes.length; i += sliceBytes) yield bytes.subarray(i, i + sliceBytes);
  }
  for await (const part of openObject(source(), keyFor)) {
    if (part.kind === 'manifest') manifest = part.manifest;
    if (part.kind === 'data') {
      data.push(part.bytes);
      codecs.push(part.codec);
    }
  }
  return { manifest, data: Buffer.concat(data), parts: data, codecs };
}

/** Compressible bytes that look like 12-bit pixel data: smooth ramps plus a little noise. */
function pixels(bytes: number, seed = 1): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i + 1 < bytes; i += 2) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b.writeUInt16LE(((i >> 6) & 0x3ff) + (x & 7), i);
  }
  return b;
}

describe('object format', () => {
  it('round-trips manifest and data split over frames and parts', async () => {
    const { frames, keyFor } = await sealSample([
      [Buffer.from('abc'), Buffer.from('def')],
      [Buffer.from('ghi')],
    ]);
    const opened = await openAll(Buffer.concat(frames), keyFor);
    expect(opened.manifest).toEqual({ hello: 'manifest' });
    expect(opened.data.toString()).toBe('abcdefghi');
    expect(opened.codecs).toEqual(['none', 'none']);
  });

  it('does not contain the plaintext', async () => {
    const secret = Buffer.from('DOE^JANE PATIENT NAME');
    const { frames } = await sealSample([[secret]]);
    expect(Buffer.concat(frames).includes(secret)).toBe(false);
  });

  it('detects truncation at a frame boundary', async () => {
    const { frames, keyFor } = await sealSample([[Buffer.from('one')], [Buffer.from('two')]]);
    const truncated = Buffer.concat(frames.slice(0, -1));
    await expect(openAll(truncated, keyFor)).rejects.toSatisfy((e) => isFerryError(e, 'crypto.bad_object'));
  });

  it('detects reordered frames', async () => {
    const { frames, keyFor } = await sealSample([
      [Buffer.from('one')],
      [Buffer.from('two')],
      [Buffer.from('3')],
    ]);
    const [h, m, a, b, c] = frames as [Buffer, Buffer, Buffer, Buffer, Buffer];
    await expect(openAll(Buffer.concat([h, m, b, a, c]), keyFor)).rejects.toThrow(/failed authentication/);
  });

  it('detects a flipped ciphertext bit', async () => {
    const { frames, keyFor } = await sealSample([[Buffer.from('payload-bytes')]]);
    const bytes = Buffer.concat(frames);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 1;
    await expect(openAll(bytes, keyFor)).rejects.toThrow(/failed authentication/);
  });

  it('refuses to unwrap with a different private key', async () => {
    const { frames } = await sealSample([[Buffer.from('x')]]);
    const other = await generateRecipientKeyPair();
    const keyFor = async (h: ObjectHeader) =>
      deriveObjectKey(await unwrapDataKey(h.wrappedKey, [other.privateJwk]), h.objectId);
    await expect(openAll(Buffer.concat(frames), keyFor)).rejects.toSatisfy((e) =>
      isFerryError(e, 'crypto.unwrap_failed'),
    );
  });
});

describe('zstd objects', () => {
  it('round-trips compressed frames, sealed on the calling thread or from compressFrame', async () => {
    const a = pixels(300_000);
    const b = pixels(MAX_RAW_FRAME_BYTES, 2);
    const sync = await sealSample([[a.subarray(0, 1000), a.subarray(1000)], [b]], 'zstd');
    const pre = await Promise.all([compressFrame([a]), compressFrame([b])]);
    const async = await sealSample([[a], [b]], 'zstd', (sealer, _parts, final) =>
      sealer.sealCompressed(pre[final ? 1 : 0]!, final),
    );
    for (const { frames, keyFor } of [sync, async]) {
      const sealed = Buffer.concat(frames);
      expect(sealed.length).toBeLessThan((a.length + b.length) / 2);
      const opened = await openAll(sealed, keyFor, 65_537);
      expect(opened.manifest).toEqual({ hello: 'manifest' });
      expect(opened.data.equals(Buffer.concat([a, b]))).toBe(true);
      expect(opened.codecs).toEqual(['zstd', 'zstd']);
    }
  });

  it('keeps the manifest uncompressed and an empty final frame empty', async () => {
    const { frames, keyFor } = await sealSample([[pixels(5000)], []], 'zstd');
    const opened = await openAll(Buffer.concat(frames), keyFor);
    expect(opened.data.equals(pixels(5000))).toBe(true);
    expect(frames[1]!.readUInt32BE(1)).toBe(Buffer.byteLength(JSON.stringify({ hello: 'manifest' })));
    expect(frames.at(-1)!.readUInt32BE(1)).toBe(0);
  });

  it('fails on a corrupted compressed frame, whether or not the tag still matches', async () => {
    const flipped = await sealSample([[pixels(50_000)]], 'zstd');
    const bytes = Buffer.concat(flipped.frames);
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 1;
    await expect(openAll(bytes, flipped.keyFor)).rejects.toThrow(/failed authentication/);

    // Authentic ciphertext of a broken zstd frame (its first block's literals header overwritten):
    // only the decoder can tell.
    const good = await compressFrame([pixels(50_000)]);
    const broken = Buffer.from(good.zstd);
    broken.fill(0xff, 9, 12);
    const garbled = await sealSample([[Buffer.alloc(1)]], 'zstd', (sealer, _p, final) =>
      sealer.sealCompressed({ zstd: broken, rawBytes: good.rawBytes }, final),
    );
    await expect(openAll(Buffer.concat(garbled.frames), garbled.keyFor)).rejects.toSatisfy((e) =>
      isFerryError(e, 'crypto.bad_object'),
    );
  });

  it('refuses a frame that would inflate past one frame of data (zstd bomb)', async () => {
    // 40 RLE blocks of 128 KiB: 5 MiB of output from 160 bytes.
    const blocks: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const head = ((128 << 10) << 3) | (1 << 1) | (i === 39 ? 1 : 0);
      blocks.push(Buffer.from([head & 0xff, (head >> 8) & 0xff, (head >> 16) & 0xff, 0x41]));
    }
    const bomb: CompressedFrame = {
      zstd: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48]), ...blocks]),
      rawBytes: 1,
    };
    const sealed = await sealSample([[Buffer.alloc(1)]], 'zstd', (sealer, _p, final) =>
      sealer.sealCompressed(bomb, final),
    );
    await expect(openAll(Buffer.concat(sealed.frames), sealed.keyFor)).rejects.toThrow(/inflate/);
  });

  it('opens a big object frame by frame, never yielding more than one frame of data', async () => {
    const frames = 24;
    const chunks = Array.from({ length: frames }, (_, i) => [pixels(MAX_RAW_FRAME_BYTES, i + 1)]);
    const { frames: sealed, keyFor } = await sealSample(chunks, 'zstd');
    const bytes = Buffer.concat(sealed);
    expect(bytes.length).toBeLessThan((frames * MAX_RAW_FRAME_BYTES) / 2);
    const opened = await openAll(bytes, keyFor, 64 * 1024);
    expect(opened.parts).toHaveLength(frames);
    expect(Math.max(...opened.parts.map((p) => p.length))).toBe(MAX_RAW_FRAME_BYTES);
    opened.parts.forEach((p, i) => {
      expect(p.equals(chunks[i]![0]!)).toBe(true);
    });
  });

  it('refuses gzip and br objects instead of yielding compressed bytes as data', async () => {
    const { frames, keyFor } = await sealSample([[Buffer.from('x')]]);
    const header = JSON.parse(frames[0]!.subarray(13).toString('utf8')) as ObjectHeader;
    const json = Buffer.from(JSON.stringify({ ...header, compression: 'gzip' }));
    const pre = Buffer.from(frames[0]!.subarray(0, 13));
    pre.writeUInt32BE(json.length, 9);
    await expect(openAll(Buffer.concat([pre, json, ...frames.slice(1)]), keyFor)).rejects.toThrow(
      /compression gzip is not supported/,
    );
  });
});

describe('image objects', () => {
  beforeAll(() =>
    initJpegLs(readFileSync(createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm'))),
  );
  const band: PixelBand = {
    width: 128,
    height: 64,
    components: 1,
    sampleBytes: 2,
    bigEndian: false,
    signed: false,
  };

  it('round-trips raw, zstd and JPEG-LS frames byte for byte, each frame naming its codec', async () => {
    const head = Buffer.from('DICM header and attributes '.repeat(50));
    const px = [pixels(128 * 64 * 2, 1), pixels(128 * 64 * 2, 2)];
    const tail = Buffer.from([1, 2, 3]);
    const coded: CodedFrame[] = [
      zstdCoded(await compressFrame([head]), [head]),
      jpegLsCoded(encodeJpegLsVerified(px[0]!, band)!, px[0]!.length),
      jpegLsCoded(encodeJpegLsVerified(px[1]!, band)!, px[1]!.length),
      rawCoded([tail]),
    ];
    expect(coded.map((c) => c.codec)).toEqual(['zstd', 'jpegls', 'jpegls', 'raw']);
    const { frames, keyFor } = await sealSample(
      coded.map(() => []),
      'image',
      (sealer, _parts, final) => sealer.sealCoded(coded.shift()!, final),
    );
    const opened = await openAll(Buffer.concat(frames), keyFor, 4099);
    expect(opened.data.equals(Buffer.concat([head, ...px, tail]))).toBe(true);
    expect(opened.parts.map((p) => p.length)).toEqual([head.length, px[0]!.length, px[1]!.length, 3]);
    expect(opened.codecs).toEqual(['zstd', 'jpegls', 'jpegls', 'raw']);
    expect(Buffer.concat(frames).length).toBeLessThan(head.length + 2 * px[0]!.length);
  });

  it('refuses plain sealData in an image object: every frame must name its codec', async () => {
    await expect(sealSample([[Buffer.from('x')]], 'image')).rejects.toThrow(/sealCoded/);
  });

  it('refuses a frame with an unknown codec, authenticated or not', async () => {
    const { frames, keyFor } = await sealSample([[]], 'image', (sealer, _p, final) =>
      sealer.sealCoded({ parts: [Buffer.from([7, 1, 2])], rawBytes: 2, codec: 'raw' }, final),
    );
    await expect(openAll(Buffer.concat(frames), keyFor)).rejects.toThrow(/unknown codec 7/);
  });
});

describe('deriveObjectKey', () => {
  it('is RFC 5869 HKDF-SHA256 with the object id as salt', async () => {
    const { hkdfSync } = await import('node:crypto');
    const epoch = newDataKey();
    const expected = Buffer.from(
      hkdfSync('sha256', epoch, Buffer.from('obj_abc', 'utf8'), 'ferry/object/v1', 32),
    );
    expect(deriveObjectKey(epoch, 'obj_abc')).toEqual(expected);
    expect(deriveObjectKey(epoch, 'obj_abd')).not.toEqual(expected);
  });
});
