import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  deriveObjectKey,
  generateRecipientKeyPair,
  isFerryError,
  newDataKey,
  type ObjectHeader,
  ObjectSealer,
  wrapDataKey,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { readOnlyStore } from '../../../testkit/control-plane/read-only-store.js';
import type { BlobStore } from './blob-store.js';
import { EpochKeyCache, openStoredObject } from './open-stored-object.js';

const MIB = 1 << 20;

/** A blob store that only reads, from generators: nothing is held in memory unless a test does. */
function fakeStore(objects: Map<string, () => AsyncIterable<Buffer>>): BlobStore {
  return readOnlyStore(async (key) => {
    const make = objects.get(key);
    if (!make) throw new Error(`no object ${key}`);
    return Readable.from(make(), { objectMode: false });
  });
}

/** Re-slices a byte stream into `size`-byte reads, as a file or socket stream would deliver it. */
async function* slices(
  parts: Iterable<Buffer> | AsyncIterable<Buffer>,
  size: number,
): AsyncGenerator<Buffer> {
  for await (const p of parts) for (let i = 0; i < p.length; i += size) yield p.subarray(i, i + size);
}

interface Keys {
  publicJwk: JWK;
  privateJwk: JWK;
  epochKey: Buffer;
  wrappedKey: string;
}

function headerFor(
  keys: Keys,
  objectId: string,
  compression: ObjectHeader['compression'] = 'none',
): ObjectHeader {
  return {
    v: 1,
    objectId,
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    wrappedKey: keys.wrappedKey,
    compression,
    contentType: 'application/dicom',
    createdAt: new Date(0).toISOString(),
  };
}

/** Seals `data` frames lazily, one frame at a time (each copied: a generator may reuse its buffer). */
function* sealFrames(header: ObjectHeader, epochKey: Buffer, data: Iterable<Buffer>): Generator<Buffer> {
  const sealer = new ObjectSealer(header, deriveObjectKey(epochKey, header.objectId));
  yield sealer.headerBytes;
  yield* sealer.sealManifest({ objectId: header.objectId });
  let pending: Buffer | undefined;
  for (const frame of data) {
    if (pending) yield* sealer.sealData([pending], false);
    pending = Buffer.from(frame);
  }
  yield* sealer.sealData(pending ? [pending] : [], true);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('openStoredObject', () => {
  let keys: Keys;

  beforeAll(async () => {
    const { publicJwk, privateJwk } = await generateRecipientKeyPair();
    const epochKey = newDataKey();
    keys = { publicJwk, privateJwk, epochKey, wrappedKey: await wrapDataKey(epochKey, publicJwk) };
  });

  const store = (key: string, bytes: () => Iterable<Buffer> | AsyncIterable<Buffer>, sliceSize = 65536) =>
    fakeStore(new Map([[key, () => slices(bytes(), sliceSize)]]));

  it('streams the plaintext of a sealed object, across odd read sizes', async () => {
    const plain = randomBytes(3 * MIB + 17);
    const frames = [plain.subarray(0, MIB), plain.subarray(MIB, 2 * MIB + 5), plain.subarray(2 * MIB + 5)];
    const header = headerFor(keys, 'obj_plain_0123456789');
    for (const sliceSize of [997, 65536, 5 * MIB]) {
      const blobStore = store('k', () => sealFrames(header, keys.epochKey, frames), sliceSize);
      const got = await collect(openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' }));
      expect(got.equals(plain), `slice size ${sliceSize}`).toBe(true);
    }
  });

  it('undoes zstd compression frame by frame', async () => {
    const plain = Buffer.concat([
      Buffer.alloc(MIB, 7),
      randomBytes(MIB / 2),
      Buffer.from('DICM'.repeat(1000)),
    ]);
    const header = headerFor(keys, 'obj_zstd_0123456789a', 'zstd');
    const blobStore = store('k', () =>
      sealFrames(header, keys.epochKey, [plain.subarray(0, MIB), plain.subarray(MIB)]),
    );
    const got = await collect(openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' }));
    expect(got.equals(plain)).toBe(true);
  });

  it('opens an empty object', async () => {
    const header = headerFor(keys, 'obj_empty_0123456789');
    const blobStore = store('k', () => sealFrames(header, keys.epochKey, []));
    const got = await collect(openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' }));
    expect(got.length).toBe(0);
  });

  it('refuses an object that is not the one asked for (crypto.bad_object)', async () => {
    const header = headerFor(keys, 'obj_other_0123456789');
    const blobStore = store('k', () => sealFrames(header, keys.epochKey, [Buffer.from('x')]));
    const err = await failure(
      collect(
        openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k', objectId: 'obj_mine' }),
      ),
    );
    expect(isFerryError(err, 'crypto.bad_object'), String(err)).toBe(true);
  });

  it('fails midway on a tampered frame (crypto.bad_object), after the good frames', async () => {
    const header = headerFor(keys, 'obj_tamper_012345678');
    const sealed = Buffer.concat([
      ...sealFrames(header, keys.epochKey, [Buffer.alloc(MIB, 1), Buffer.alloc(MIB, 2), Buffer.alloc(10, 3)]),
    ]);
    sealed.writeUInt8(sealed.readUInt8(sealed.length - 100) ^ 1, sealed.length - 100);
    const blobStore = store('k', () => [sealed]);
    let got = 0;
    const err = await failure(
      (async () => {
        for await (const c of openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' })) {
          got += c.length;
        }
      })(),
    );
    expect(isFerryError(err, 'crypto.bad_object'), String(err)).toBe(true);
    expect(got).toBe(MIB);
  });

  it('refuses a truncated object (crypto.bad_object)', async () => {
    const header = headerFor(keys, 'obj_trunc_0123456789');
    const sealed = Buffer.concat([...sealFrames(header, keys.epochKey, [Buffer.alloc(1000, 1)])]);
    const blobStore = store('k', () => [sealed.subarray(0, sealed.length - 1)]);
    const err = await failure(
      collect(openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' })),
    );
    expect(isFerryError(err, 'crypto.bad_object'), String(err)).toBe(true);
  });

  it('needs the right private key (crypto.unwrap_failed)', async () => {
    const other = await generateRecipientKeyPair();
    const header = headerFor(keys, 'obj_key_01234567890');
    const blobStore = store('k', () => sealFrames(header, keys.epochKey, [Buffer.from('x')]));
    const err = await failure(
      collect(openStoredObject({ blobStore, privateKeys: [other.privateJwk], key: 'k' })),
    );
    expect(isFerryError(err, 'crypto.unwrap_failed'), String(err)).toBe(true);
  });

  it('unwraps a shared epoch key once per cache', async () => {
    const cache = new EpochKeyCache();
    const a = await cache.unwrap(keys.wrappedKey, [keys.privateJwk]);
    const b = await cache.unwrap(keys.wrappedKey, [keys.privateJwk]);
    expect(a).toBe(b);
    expect(a.equals(keys.epochKey)).toBe(true);
  });

  it('stops reading the store when the consumer stops', async () => {
    let framesMade = 0;
    const header = headerFor(keys, 'obj_stop_01234567890');
    function* many(): Generator<Buffer> {
      for (let i = 0; i < 1000; i++) {
        framesMade++;
        yield Buffer.alloc(MIB, i);
      }
    }
    const blobStore = store('k', () => sealFrames(header, keys.epochKey, many()));
    for await (const _ of openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' })) break;
    expect(framesMade).toBeLessThan(10);
  });

  it('streams a 1 GiB object in bounded memory', { timeout: 120_000 }, async () => {
    const frames = 1024;
    const frame = randomBytes(MIB);
    const expected = createHash('sha256');
    function* data(): Generator<Buffer> {
      for (let i = 0; i < frames; i++) {
        frame.writeUInt32BE(i, 0);
        expected.update(frame);
        yield frame;
      }
    }
    const header = headerFor(keys, 'obj_large_0123456789');
    const blobStore = store('k', () => sealFrames(header, keys.epochKey, data()));
    global.gc?.();
    const base = process.memoryUsage();
    let peak = 0;
    let bytes = 0;
    const got = createHash('sha256');
    for await (const c of openStoredObject({ blobStore, privateKeys: [keys.privateJwk], key: 'k' })) {
      got.update(c);
      bytes += c.length;
      if ((bytes & (32 * MIB - 1)) === 0) {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.rss - base.rss, m.arrayBuffers - base.arrayBuffers);
      }
    }
    expect(bytes).toBe(frames * MIB);
    expect(got.digest('hex')).toBe(expected.digest('hex'));
    // A whole-object buffer would be 1 GiB; a few frames in flight are a few MiB.
    expect(peak).toBeLessThan(192 * MIB);
  });
});
