/**
 * The fs store sees an object's bytes arrive (routes/blob-parts.ts), so it checks a single-PUT object
 * there, in the stream, as it writes it, and a multipart object as complete joins its parts: the
 * same pass as a read-back (opened.ts), done once. What it
 * found is kept here, bound to the identity of the file written, and complete (verify-object.ts) takes
 * it instead of reading the object back, when the object published at the key is still that file. Any
 * other case (S3, a restart, another replica, an evicted entry, a replaced file) reads the
 * object back as before. Nothing is judged at the PUT: complete applies the same checks to either.
 */
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import type { BlobStore } from '../storage/blob-store.js';
import { EpochKeyCache } from '../storage/open-stored-object.js';
import { HashingReader } from './hashing-reader.js';
import { type Keys, type Opened, openFrom } from './opened.js';
import { storage } from './upload-store.js';

/**
 * Entries kept per store, oldest dropped first: an agent completes a batch (at most 200 objects) soon
 * after its PUTs, so this covers a few batches of many gateways at once; each holds a parsed header
 * (a few kB). A dropped one is read back.
 */
const MAX_ENTRIES = 4_000;

interface Entry {
  identity: string;
  opened: Opened;
}

const byStore = new WeakMap<BlobStore, Map<string, Entry>>();

/** One per process: an agent wraps one epoch key per study or few minutes (see EpochKeyCache). */
const epochKeys = new EpochKeyCache({ max: 256, ttlMs: 5 * 60_000 });

/** The check a PUT runs over its body's chunks. */
export function checkInStream(
  privateKeys: Keys['privateKeys'],
): (chunks: AsyncIterable<Buffer>) => Promise<Opened> {
  return checkWith({ privateKeys, cache: epochKeys });
}
/** The process's epoch keys, for checks that take their Keys whole (a pack's members). */
checkInStream.cache = epochKeys;

/** The same check with the caller's keys (a complete's, joining a multipart object's parts). */
export function checkWith(keys: Keys): (chunks: AsyncIterable<Buffer>) => Promise<Opened> {
  return (chunks) => openFrom(new HashingReader(chunks), keys);
}

/** The identity a pack member's check is kept under: its pack blob and offset. */
export function packIdentity(blobKey: string, offset: number): string {
  return `pack:${blobKey}#${offset}`;
}

/** Keeps what the PUT of `uploadId` found in the file it wrote (`identity`, see BlobStore.identity). */
export function rememberChecked(store: BlobStore, uploadId: string, identity: string, opened: Opened): void {
  let map = byStore.get(store);
  if (!map) {
    map = new Map();
    byStore.set(store, map);
  }
  map.delete(uploadId);
  map.set(uploadId, { identity, opened });
  for (const oldest of map.keys()) {
    if (map.size <= MAX_ENTRIES) break;
    map.delete(oldest);
  }
}

/**
 * What the PUT found, if the object now at the row's key is the very file it wrote; undefined (read it
 * back) otherwise. Taken once: a later complete of the same upload reads back.
 */
export async function takeChecked(
  store: BlobStore,
  row: Pick<UploadRow, 'id' | 'blobKey'> & { blobOffset?: number | null },
): Promise<Opened | undefined> {
  const map = byStore.get(store);
  const entry = map?.get(row.id);
  if (!entry) return undefined;
  if (row.blobOffset != null) {
    // A pack's blob is written once under a key of its own (ingest/pack-upload.ts): the key names the bytes.
    map?.delete(row.id);
    return entry.identity === packIdentity(row.blobKey, row.blobOffset) ? entry.opened : undefined;
  }
  if (!store.identity) return undefined;
  map?.delete(row.id);
  const identity = await storage('read an object identity', () => store.identity!(row.blobKey));
  return identity === entry.identity ? entry.opened : undefined;
}
