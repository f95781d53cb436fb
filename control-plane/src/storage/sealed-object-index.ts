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
  type ObjectHeader,
  openObject,
  openSealedFrame,
  TAG_BYTES,
} from '@ferry/shared';
import type { JWK } from 'jose';
import type { BlobStore } from './blob-store.js';
import { coalesce } from './open-stored-object.js';
import type { RecentEpochKeys } from './recent-epoch-keys.js';

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
  zstd: boolean;
  /** Data frames holding bytes, in plaintext order. */
  frames: IndexedFrame[];
  plainBytes: number;
}

export interface SealedObjectAccess {
  blobStore: BlobStore;
  privateKeys: readonly JWK[];
  epochKeys: RecentEpochKeys;
}

function bad(message: string): FerryError {
  return new FerryError('crypto.bad_object', message);
}

/**
 * Streams the object once, indexing its frames while `consume` reads its plaintext. `consume` may stop
 * early; the rest is still read (and authenticated) to finish the index. Both outcomes are returned.
 */
export async function indexSealedObject<T>(
  access: SealedObjectAccess,
  object: { objectId: string; blobKey: string },
  consume: (plaintext: AsyncIterable<Buffer>) => Promise<T>,
): Promise<{ index: SealedObjectIndex; result: T }> {
  const source = await access.blobStore.get(object.blobKey);
  let header: ObjectHeader | undefined;
  let digest: Buffer | undefined;
  const frames: IndexedFrame[] = [];
  let plainAt = 0;
  const parts = openObject(coalesce(source), async (h) => {
    if (h.objectId !== object.objectId) {
      throw bad(`stored object ${object.blobKey} is not object ${object.objectId}`);
    }
    return deriveObjectKey(await access.epochKeys.unwrap(h.wrappedKey, access.privateKeys), h.objectId);
  });
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
  try {
    const result = await consume(plaintext);
    while (!(await nextData()).done) {
      // Drained for the index.
    }
    if (!header || !digest) throw bad('object has no header');
    return {
      index: {
        objectId: object.objectId,
        blobKey: object.blobKey,
        wrappedKey: header.wrappedKey,
        digest,
        zstd: header.compression === 'zstd',
        frames,
        plainBytes: plainAt,
      },
      result,
    };
  } finally {
    await parts.return(undefined);
    source.destroy();
  }
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
  if (start < 0 || start + length > index.plainBytes) throw bad('range outside the object');
  const firstAt = frameAt(index.frames, start);
  const lastAt = frameAt(index.frames, start + length - 1);
  const first = index.frames[firstAt]!;
  const last = index.frames[lastAt]!;
  const rangeEnd = last.offset + last.length;
  const sealed = await readAll(
    await access.blobStore.get(index.blobKey, { start: first.offset, end: rangeEnd - 1 }),
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
    const data = await frameData(plain, index.zstd);
    if (data.length !== f.plainLength) throw bad(`frame ${f.index} holds other bytes than indexed`);
    const from = Math.max(start, f.plainStart);
    const to = Math.min(start + length, f.plainStart + f.plainLength);
    data.copy(out, from - start, from - f.plainStart, to - f.plainStart);
  }
  return out;
}
