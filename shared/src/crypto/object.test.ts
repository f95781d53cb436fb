import { describe, expect, it } from 'vitest';
import { isFerryError } from '../errors/index.js';
import {
  deriveObjectKey,
  generateRecipientKeyPair,
  newDataKey,
  type ObjectHeader,
  ObjectSealer,
  openObject,
  unwrapDataKey,
  wrapDataKey,
} from './index.js';

async function sealSample(chunks: Buffer[][]) {
  const { publicJwk, privateJwk } = await generateRecipientKeyPair();
  const epochKey = newDataKey();
  const header: ObjectHeader = {
    v: 1,
    objectId: 'obj_0123456789abcdef',
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    wrappedKey: await wrapDataKey(epochKey, publicJwk),
    compression: 'none',
    contentType: 'application/dicom',
    createdAt: new Date(0).toISOString(),
  };
  const sealer = new ObjectSealer(header, deriveObjectKey(epochKey, header.objectId));
  const frames: Buffer[] = [sealer.headerBytes, Buffer.concat(sealer.sealManifest({ hello: 'manifest' }))];
  chunks.forEach((parts, i) => {
    frames.push(Buffer.concat(sealer.sealData(parts, i === chunks.length - 1)));
  });
  const keyFor = async (h: ObjectHeader) =>
    deriveObjectKey(await unwrapDataKey(h.wrappedKey, [privateJwk]), h.objectId);
  return { frames, keyFor, privateJwk };
}

async function openAll(bytes: Buffer, keyFor: (h: ObjectHeader) => Promise<Buffer>) {
  const data: Buffer[] = [];
  let manifest: unknown;
  async function* source() {
    // odd slice size exercises frame reassembly across reads
    for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
  }
  for await (const part of openObject(source(), keyFor)) {
    if (part.kind === 'manifest') manifest = part.manifest;
    if (part.kind === 'data') data.push(part.bytes);
  }
  return { manifest, data: Buffer.concat(data) };
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
