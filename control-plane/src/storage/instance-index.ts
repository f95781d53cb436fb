/**
 * Frames and bulk data of a stored instance by random access. The first open of an object streams it
 * once (decrypting and authenticating every frame) to index its sealed frames and its Part-10 layout;
 * the index, offsets only and no PHI, is kept in a bounded LRU by object id. A frame then costs a ranged
 * read of the sealed frames that hold it.
 *
 * The deflated syntax cannot be entered midway: its frames and values are read by inflating the
 * dataset from its start each time (slow, correct, and rare).
 */
import { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { FerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import { ByteCursor } from '../dicom/byte-cursor.js';
import { PIXEL_DATA } from '../dicom/dicom-json.js';
import { shiftBits, swapWords, wordBytes } from '../dicom/native-pixels.js';
import { type ByteSpan, type Part10Layout, readPart10Layout } from '../dicom/part10-layout.js';
import type { BlobStore } from './blob-store.js';
import { EpochKeyCache } from './open-stored-object.js';
import {
  indexSealedObject,
  readPlaintextRange,
  type SealedObjectAccess,
  type SealedObjectIndex,
} from './sealed-object-index.js';

const MAX_INDEXES = 2000;

export interface StoredObjectRef {
  objectId: string;
  blobKey: string;
}

export interface InstanceIndex {
  sealed: SealedObjectIndex;
  layout: Part10Layout;
}

export interface InstanceAccessDeps {
  blobStore: BlobStore;
  recipientPrivateKeys: readonly JWK[];
}

/** Bounded LRU of indexes by object id; a build in flight is shared by the requests that wait for it. */
class IndexCache {
  private readonly entries = new Map<string, Promise<InstanceIndex>>();
  constructor(private readonly max: number) {}

  get(ref: StoredObjectRef, build: () => Promise<InstanceIndex>): Promise<InstanceIndex> {
    const key = `${ref.objectId}\n${ref.blobKey}`;
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const built = build();
    const forget = () => {
      if (this.entries.get(key) === built) this.entries.delete(key);
    };
    // A build that fails, or an object that fails to open past the part already indexed, is not kept.
    built.then((index) => index.sealed.complete.catch(forget), forget);
    this.entries.set(key, built);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return built;
  }

  clear(): void {
    this.entries.clear();
  }
}

const indexes = new IndexCache(MAX_INDEXES);
/** Across requests: a viewer asks for one series' frames in hundreds of them. */
const epochKeys = new EpochKeyCache({ max: 256, ttlMs: 5 * 60_000 });

/** Forgets every index (tests that count what a first open reads). */
export function clearInstanceIndexes(): void {
  indexes.clear();
}

function accessOf(deps: InstanceAccessDeps): SealedObjectAccess {
  return { blobStore: deps.blobStore, privateKeys: deps.recipientPrivateKeys, epochKeys };
}

/** The instance's index, from the cache or built by streaming the object once. */
export function instanceIndex(deps: InstanceAccessDeps, ref: StoredObjectRef): Promise<InstanceIndex> {
  return indexes.get(ref, async () => {
    const { index, result } = await indexSealedObject(accessOf(deps), ref, readPart10Layout);
    return { sealed: index, layout: result };
  });
}

/** Spans of the (inflated) dataset of a deflated object, read by inflating it from the start. */
async function readInflatedSpans(
  access: SealedObjectAccess,
  index: InstanceIndex,
  spans: readonly ByteSpan[],
): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const { result } = await indexSealedObject(
    access,
    index.sealed,
    async (plaintext) => {
      const file = new ByteCursor(plaintext);
      await file.skip(index.layout.datasetStart);
      const inflater = Readable.from(file.rest()).pipe(createInflateRaw());
      const cur = new ByteCursor(inflater, index.layout.datasetStart);
      try {
        // Spans come in file order (a frame's fragments, one value): one pass reads them all.
        for (const s of spans) {
          if (s.offset < cur.position) throw new FerryError('dicom.dataset_unreadable', 'spans out of order');
          await cur.skip(s.offset - cur.position);
          out.push(Buffer.from(await cur.read(s.length)));
        }
        return out;
      } finally {
        inflater.destroy();
        await cur.close();
      }
    },
    { drain: false },
  );
  return result;
}

/** The bytes of `spans`, in order, from the object's plaintext (or inflated dataset). */
export async function readSpans(
  deps: InstanceAccessDeps,
  index: InstanceIndex,
  spans: readonly ByteSpan[],
): Promise<Buffer[]> {
  const access = accessOf(deps);
  if (index.layout.deflated) return readInflatedSpans(access, index, spans);
  if (spans.length === 0) return [];
  // Fragments of one frame lie together: one ranged read covers them and the item headers between.
  const from = Math.min(...spans.map((s) => s.offset));
  const to = Math.max(...spans.map((s) => s.offset + s.length));
  const whole = await readPlaintextRange(access, index.sealed, from, to - from);
  return spans.map((s) => whole.subarray(s.offset - from, s.offset - from + s.length));
}

/** A span of a native value, read and turned little endian (whole words of the value are swapped). */
async function readValueLittleEndian(
  deps: InstanceAccessDeps,
  index: InstanceIndex,
  value: ByteSpan,
  vr: string,
  within: ByteSpan,
  bitsAllocated?: number,
): Promise<Buffer> {
  const unit = index.layout.littleEndian ? 1 : wordBytes(vr, bitsAllocated);
  const rel = within.offset - value.offset;
  const alignedStart = rel - (rel % unit);
  const alignedEnd = Math.min(value.length, Math.ceil((rel + within.length) / unit) * unit);
  const [bytes] = await readSpans(deps, index, [
    { offset: value.offset + alignedStart, length: alignedEnd - alignedStart },
  ]);
  const words = Buffer.from(bytes!);
  const usable = words.length - (words.length % unit);
  swapWords(words.subarray(0, usable), unit);
  return words.subarray(rel - alignedStart, rel - alignedStart + within.length);
}

function frameNotFound(n: number, count: number): FerryError {
  return new FerryError('dicomweb.frame_not_found', `frame ${n} does not exist: the instance has ${count}`);
}

/**
 * Frame `n` (1-based): native pixels little endian, starting at bit 0; encapsulated, the frame's
 * fragments joined.
 */
export async function readFrame(deps: InstanceAccessDeps, index: InstanceIndex, n: number): Promise<Buffer> {
  const px = index.layout.pixels;
  if (!px) throw new FerryError('dicomweb.no_pixel_data', 'the instance holds no pixel data');
  if (!Number.isSafeInteger(n) || n < 1 || n > px.numberOfFrames) throw frameNotFound(n, px.numberOfFrames);
  if (px.kind === 'encapsulated') {
    const parts = await readSpans(deps, index, px.frames[n - 1]!);
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts);
  }
  const startBit = (n - 1) * px.frameBits;
  if (startBit % 8 === 0 && px.frameBits % 8 === 0) {
    const within = { offset: px.value.offset + startBit / 8, length: px.frameBits / 8 };
    return readValueLittleEndian(deps, index, px.value, px.vr, within, px.bitsAllocated);
  }
  // BitsAllocated 1: frames are packed bit after bit and need not start on a byte.
  const first = Math.floor(startBit / 8);
  const end = Math.ceil((startBit + px.frameBits) / 8);
  const [bytes] = await readSpans(deps, index, [{ offset: px.value.offset + first, length: end - first }]);
  return shiftBits(bytes!, startBit % 8, px.frameBits);
}

const BULK_CHUNK_BYTES = 4 << 20;

/** Where a bulk data value lies; the native Pixel Data is one too. Pixel Data in fragments is not. */
function bulkValue(
  index: InstanceIndex,
  path: string,
): { vr: string; value: ByteSpan; bitsAllocated?: number } {
  const px = index.layout.pixels;
  if (path === PIXEL_DATA && px?.kind === 'native') {
    return { vr: px.vr, value: px.value, bitsAllocated: px.bitsAllocated };
  }
  const value = index.layout.bulk.get(path);
  if (!value)
    throw new FerryError('dicomweb.bulkdata_not_found', `the instance holds no bulk data at ${path}`);
  return { vr: value.vr, value };
}

/**
 * A bulk data value by its path, as stored but little endian, in chunks of at most 4 MiB (a 1 GB
 * Pixel Data never sits in memory). Throws dicomweb.bulkdata_not_found before yielding when none.
 */
export function streamBulkValue(
  deps: InstanceAccessDeps,
  index: InstanceIndex,
  path: string,
): AsyncGenerator<Buffer> {
  const { vr, value, bitsAllocated } = bulkValue(index, path);
  return (async function* () {
    for (let at = 0; at < value.length; at += BULK_CHUNK_BYTES) {
      const within = { offset: value.offset + at, length: Math.min(BULK_CHUNK_BYTES, value.length - at) };
      yield await readValueLittleEndian(deps, index, value, vr, within, bitsAllocated);
    }
  })();
}

/** A bulk data value by its path, whole (see streamBulkValue). */
export async function readBulkValue(
  deps: InstanceAccessDeps,
  index: InstanceIndex,
  path: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of streamBulkValue(deps, index, path)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
