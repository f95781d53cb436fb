import { deriveObjectKey, FerryError, openObject, unwrapDataKey } from '@ferry/shared';
import type { JWK } from 'jose';
import './jpegls-wasm.js';
import { getLocated } from './blob-location.js';
import type { BlobStore } from './blob-store.js';

/** Feeds the object reader chunks of at least this size, so a 1 MiB frame is not rebuilt from 64 KiB reads. */
const COALESCE_BYTES = 1 << 20;

/**
 * Unwrapped epoch keys by wrapped-key JWE. An agent wraps one key per study or per few minutes, so
 * whoever opens many objects (a study download, a complete of 500 uploads, a viewer's hundreds of frame
 * requests) pays the ECDH unwrap about once, not per instance. Concurrent unwraps of one key share it;
 * a failed one is forgotten. Make one per request, or one per process with a `ttlMs`: sharing across
 * groups is safe because a caller reaches a wrapped key only through an object its group's database
 * row named, and the cache never lists or hands out keys by anything else.
 */
export class EpochKeyCache {
  private readonly keys = new Map<string, { key: Promise<Buffer>; at: number }>();
  private readonly max: number;
  private readonly ttlMs: number;

  constructor(opts: { max?: number; ttlMs?: number } = {}) {
    this.max = opts.max ?? 64;
    this.ttlMs = opts.ttlMs ?? Number.POSITIVE_INFINITY;
  }

  unwrap(wrappedKey: string, privateKeys: readonly JWK[]): Promise<Buffer> {
    const now = Date.now();
    const hit = this.keys.get(wrappedKey);
    if (hit && now - hit.at < this.ttlMs) return hit.key;
    this.keys.delete(wrappedKey);
    const key = unwrapDataKey(wrappedKey, privateKeys);
    key.catch(() => this.keys.delete(wrappedKey));
    while (this.keys.size >= this.max) {
      const oldest = this.keys.keys().next().value;
      if (oldest === undefined) break;
      this.keys.delete(oldest);
    }
    this.keys.set(wrappedKey, { key, at: now });
    return key;
  }
}

export interface OpenStoredObjectInput {
  blobStore: BlobStore;
  /** The recipient private keys, newest first (AppDeps.recipientPrivateKeys). */
  privateKeys: readonly JWK[];
  /** Where the sealed object lies: its blob key, or its place in a pack (blob-location.ts). */
  key: string;
  /** When given, the object's header must name this object id (a swapped blob fails to open). */
  objectId?: string;
  keyCache?: EpochKeyCache;
}

/** Joins a blob stream's chunks into buffers of at least `min` bytes (the last may be shorter). */
export async function* coalesce(
  source: AsyncIterable<Uint8Array>,
  min = COALESCE_BYTES,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    parts.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    size += chunk.byteLength;
    if (size >= min) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

/**
 * Streams the plaintext of one sealed object from the blob store: the Part-10 file as the gateway
 * received it. Reads, authenticates and decrypts frame by frame (one frame, at most 64 MiB and 1 MiB
 * from agents, in memory at a time); openObject undoes a frame's compression. Throws
 * `crypto.bad_object` on any tampering or truncation, also midway: a consumer that already sent
 * bytes must abort its output rather than end it cleanly.
 */
export async function* openStoredObject(input: OpenStoredObjectInput): AsyncGenerator<Buffer> {
  const { blobStore, privateKeys, key, objectId } = input;
  const cache = input.keyCache ?? new EpochKeyCache();
  const source = await getLocated(blobStore, key);
  const parts = openObject(coalesce(source, COALESCE_BYTES), async (h) => {
    if (objectId !== undefined && h.objectId !== objectId) {
      throw new FerryError('crypto.bad_object', `stored object ${key} is not object ${objectId}`);
    }
    return deriveObjectKey(await cache.unwrap(h.wrappedKey, privateKeys), h.objectId);
  });
  try {
    for await (const part of parts) if (part.kind === 'data') yield part.bytes;
  } finally {
    await parts.return(undefined);
    source.destroy();
  }
}
