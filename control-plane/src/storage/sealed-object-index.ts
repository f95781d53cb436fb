/**
 * Random access into a sealed object: one streaming pass records where each sealed frame lies and
 * which plaintext bytes it holds; afterwards a plaintext range costs a ranged blob read of the frames
 * that cover it, each authenticated and decrypted on its own (openSealedFrame, as in order).
 */
import {
  deriveObjectKey,
  FerryError,
  FRAME_HEADER_BYTES,
  frameData,
  type ObjectCompression,
  type ObjectHeader,
  openObject,
  openSealedFrame,
  readableCompression,
  TAG_BYTES,
} from '@ferry/shared';
import type { JWK } from 'jose';
import './jpegls-wasm.js';
import { getLocated } from './blob-location.js';
import type { BlobStore } from './blob-store.js';
import { coalesce, type EpochKeyCache } from './open-stored-object.js';

export interface IndexedFrame {
  index: number;
  flags: number;
  /** Where the sealed frame lies in the object (frame header to tag). */
  offset: number;
  length: number;
  /** Which plaintext bytes it holds. */
  plainStart: number;
  plainLength: number;
}

/** Offsets, and the header fields frames are opened with: nothing secret (the key stays wrapped). */
export interface SealedObjectIndex {
  objectId: string;
  blobKey: string;
  wrappedKey: string;
  digest: Buffer;
  compression: ObjectCompression;
  /** Data frames holding bytes, in plaintext order; grows until `complete`. */
  frames: IndexedFrame[];
  /** Plaintext bytes indexed so far: all of them once `complete` resolves. */
  plainBytes: number;
  /** Every frame read and authenticated; rejects (crypto.bad_object) when the object fails to open. */
  complete: Promise<void>;
  /** Resolves once the plaintext up to `end` is indexed, or the whole object is. */
  covered(end: number): Promise<void>;
}

export interface SealedObjectAccess {
  blobStore: BlobStore;
  privateKeys: readonly JWK[];
  epochKeys: EpochKeyCache;
}

function bad(message: string): FerryError {
  return new FerryError('crypto.bad_object', message);
}

/**
 * Streams the object once, indexing its frames while `consume` reads its plaintext. `consume` may stop
 * early (at the Pixel Data); unless `drain` is false the rest is then read and authenticated in the
 * background, and a read of plaintext already indexed need not wait for it (`covered`), so the first
 * frame of a 1 GB native multi-frame does not wait for the whole object.
 */
export async function indexSealedObject<T>(
  access: SealedObjectAccess,
  object: { objectId: string; blobKey: string },
  consume: (plaintext: AsyncIterable<Buffer>) => Promise<T>,
  opts: { drain?: boolean } = {},
): Promise<{ index: SealedObjectIndex; result: T }> {
  const source = await getLocated(access.blobStore, object.blobKey);
  let header: ObjectHeader | undefined;
  let digest: Buffer | undefined;
  const frames: IndexedFrame[] = [];
  let plainAt = 0;
  let waiters: { end: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let finished = false;
  let failure: { err: unknown } | undefined;
  const parts = openObject(coalesce(source), async (h) => {
    if (h.objectId !== object.objectId) {
      throw bad(`stored object ${object.blobKey} is not object ${object.objectId}`);
    }
    return deriveObjectKey(await access.epochKeys.unwrap(h.wrappedKey, access.privateKeys), h.objectId);
  });
  const close = async () => {
    await parts.return(undefined);
    source.destroy();
  };
  const wake = () => {
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (failure) w.reject(failure.err);
      else if (finished || plainAt >= w.end) w.resolve();
      else still.push(w);
    }
    waiters = still;
  };
  async function nextData(): Promise<IteratorResult<Buffer, undefined>> {
    for (;;) {
      const next = await parts.next();
      if (next.done) return { done: true, value: undefined };
      const part = next.value;
      if (part.kind === 'header') {
        header = part.header;
        digest = part.digest;
      } else if (part.kind === 'data') {
        frames.push({ ...part.frame, plainStart: plainAt, plainLength: part.bytes.length });
        plainAt += part.bytes.length;
        if (index) index.plainBytes = plainAt;
        if (waiters.length > 0) wake();
        return { done: false, value: part.bytes };
      }
    }
  }
  // The consumer's early return must not close the object: the index needs every frame.
  const plaintext: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: nextData,
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  let index: SealedObjectIndex | undefined;
  let result: T;
  try {
    result = await consume(plaintext);
    if (!header || !digest) throw bad('object has no header');
  } catch (err) {
    await close();
    throw err;
  }
  if (opts.drain === false) await close();
  const complete =
    opts.drain === false
      ? Promise.resolve()
      : (async () => {
          try {
            while (!(await nextData()).done) {
              // Read for the index.
            }
          } finally {
            await close();
          }
        })();
  complete.then(
    () => {
      finished = true;
      wake();
    },
    (err: unknown) => {
      failure = { err };
      wake();
    },
  );
  index = {
    objectId: object.objectId,
    blobKey: object.blobKey,
    wrappedKey: header.wrappedKey,
    digest,
    compression: readableCompression(header),
    frames,
    plainBytes: plainAt,
    complete,
    covered: (end) => {
      if (failure) return Promise.reject(failure.err);
      if (finished || plainAt >= end) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ end, resolve, reject }));
    },
  };
  return { index, result };
}

/** The first frame whose plaintext holds byte `at`. */
function frameAt(frames: readonly IndexedFrame[], at: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (frames[mid]!.plainStart <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

async function readAll(stream: AsyncIterable<Uint8Array>, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.byteLength > size) throw bad('the store returned more bytes than the range asked');
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== size) throw bad('object is truncated');
  return out;
}

/**
 * Plaintext bytes [start, start + length) of an indexed object: reads the sealed frames covering them
 * with one ranged get, and opens only those.
 */
export async function readPlaintextRange(
  access: SealedObjectAccess,
  index: SealedObjectIndex,
  start: number,
  length: number,
): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  await index.covered(start + length);
  if (start < 0 || start + length > index.plainBytes) throw bad('range outside the object');
  const firstAt = frameAt(index.frames, start);
  const lastAt = frameAt(index.frames, start + length - 1);
  const first = index.frames[firstAt]!;
  const last = index.frames[lastAt]!;
  const rangeEnd = last.offset + last.length;
  const sealed = await readAll(
    await getLocated(access.blobStore, index.blobKey, { start: first.offset, end: rangeEnd - 1 }),
    rangeEnd - first.offset,
  );
  const key = deriveObjectKey(
    await access.epochKeys.unwrap(index.wrappedKey, access.privateKeys),
    index.objectId,
  );
  const out = Buffer.allocUnsafe(length);
  for (let i = firstAt; i <= lastAt; i++) {
    const f = index.frames[i]!;
    const at = f.offset - first.offset;
    const flags = sealed[at] ?? 0;
    const bodyLength = sealed.readUInt32BE(at + 1);
    if (flags !== f.flags || FRAME_HEADER_BYTES + bodyLength + TAG_BYTES !== f.length) {
      throw bad(`frame ${f.index} is not where the index says`);
    }
    const plain = openSealedFrame(
      key,
      index.digest,
      f.index,
      flags,
      sealed.subarray(at + FRAME_HEADER_BYTES, at + f.length),
    );
    const data = await frameData(plain, index.compression);
    if (data.length !== f.plainLength) throw bad(`frame ${f.index} holds other bytes than indexed`);
    const from = Math.max(start, f.plainStart);
    const to = Math.min(start + length, f.plainStart + f.plainLength);
    data.copy(out, from - start, from - f.plainStart, to - f.plainStart);
  }
  return out;
}
