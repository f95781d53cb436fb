/**
 * Verifies one uploaded object as stored: the ciphertext hash the agent claimed, every frame opened
 * and authenticated, the plaintext hash and size the offer claimed, the manifest, and the header parsed
 * here (the index's one source of fields, instance-fields.ts), which must name the offered SOP Instance
 * UID. A torn upload is a retry on a fresh upload; a bad object is refused.
 */
import { createHash } from 'node:crypto';
import {
  deriveObjectKey,
  FerryError,
  type InstanceManifest,
  instanceManifestSchema,
  isFerryError,
  type ObjectHeader,
  openObject,
} from '@ferry/shared';
import type { JWK } from 'jose';
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import { type DicomJson, HeaderPrefix, type ParsedHeader, parseDicomHeader } from '../dicom/dicom-json.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { EpochKeyCache } from '../storage/open-stored-object.js';
import { HashingReader } from './hashing-reader.js';
import { type InstanceFields, instanceFieldsOf } from './instance-fields.js';
import { storage } from './upload-store.js';
import { refuse, retry } from './verdict.js';

/** The object reader gets chunks of at least this size, so a 1 MiB frame is not rebuilt from 64 KiB reads. */
const COALESCE_BYTES = 1 << 20;

/** What reading, checking and opening a stored object gives. */
export interface VerifiedObject {
  objectSha256: string;
  manifest: InstanceManifest;
  /** The header as parsed here: stored as the instance's metadata. */
  metadata: DicomJson;
  /** The index's fields, from `metadata`. */
  fields: InstanceFields;
  /** Set when text was decoded leniently (unknown character set terms or escapes, invalid bytes). */
  charset?: ParsedHeader['charset'];
}

/** Where verification finds its keys. */
export interface Keys {
  privateKeys: readonly JWK[];
  cache: EpochKeyCache;
}

/** What one pass over the stored bytes gave, before any check. */
interface Opened {
  header: ObjectHeader | undefined;
  manifest: unknown;
  plainSha256: string;
  plainBytes: number;
  prefix: HeaderPrefix;
  /** Why the frames did not open, if they did not. */
  openError: unknown;
  objectSha256: string;
  objectBytes: number;
}

async function readStored(blobStore: BlobStore, row: UploadRow) {
  return storage('read the object', () => blobStore.get(row.blobKey)).catch((err: unknown) => {
    if (isFerryError(err, 'resource.not_found'))
      throw retry('upload.incomplete', 'the object has not arrived; send it, then complete again');
    throw err;
  });
}

/**
 * Streams the stored object once. Memory stays at about one frame plus the header prefix, whatever the
 * object's size.
 */
async function openStored(blobStore: BlobStore, keys: Keys, row: UploadRow): Promise<Opened> {
  const source = await readStored(blobStore, row);
  const reader = new HashingReader(source);
  const plainHash = createHash('sha256');
  const o = { header: undefined as ObjectHeader | undefined, manifest: undefined as unknown, plainBytes: 0 };
  const prefix = new HeaderPrefix();
  let openError: unknown;
  try {
    for await (const part of openObject(reader.chunks(COALESCE_BYTES), async (h) => {
      o.header = h;
      return deriveObjectKey(await keys.cache.unwrap(h.wrappedKey, keys.privateKeys), h.objectId);
    })) {
      if (part.kind === 'manifest') o.manifest = part.manifest;
      else if (part.kind === 'data') {
        plainHash.update(part.bytes);
        o.plainBytes += part.bytes.length;
        prefix.push(part.bytes);
      }
    }
  } catch (err) {
    if (isFerryError(err, 'storage.unavailable')) throw err;
    openError = err;
    // Hash the rest: a torn upload (retry) must be told apart from a bad object (refused).
    await reader.drain();
  } finally {
    source.destroy();
  }
  return {
    ...o,
    plainSha256: plainHash.digest('hex'),
    prefix,
    openError,
    objectSha256: reader.hash.digest('hex'),
    objectBytes: reader.bytes,
  };
}

/** The manifest, checked against the offer. */
function checkedManifest(opened: Opened, row: UploadRow): InstanceManifest {
  if (opened.openError !== undefined) {
    const reason = opened.openError instanceof FerryError ? opened.openError.message : 'it cannot be opened';
    throw refuse(`the object does not open: ${reason}`);
  }
  if (opened.header?.objectId !== row.objectId) throw refuse('the object was sealed for another object id');
  const parsed = instanceManifestSchema.safeParse(opened.manifest);
  if (!parsed.success) throw refuse('the object has no valid manifest');
  if (parsed.data.sopInstanceUid !== row.sopInstanceUid) {
    throw refuse('the manifest names another SOP Instance UID than the offer');
  }
  if (opened.plainBytes !== row.plainBytes || opened.plainSha256 !== row.sha256) {
    throw refuse('the decrypted content does not match the offered size and SHA-256');
  }
  return parsed.data;
}

/** The header as parsed here; an unreadable one is stored as `{}` (and then has no UIDs to index). */
async function parsedHeader(prefix: HeaderPrefix): Promise<Pick<ParsedHeader, 'metadata' | 'charset'>> {
  try {
    return await parseDicomHeader(prefix.bytes(), { whole: prefix.whole });
  } catch {
    return { metadata: {} };
  }
}

/** Verifies the object stored for `row`, which the agent says hashes to `claimedObjectSha256`. */
export async function verifyObject(
  blobStore: BlobStore,
  keys: Keys,
  row: UploadRow,
  claimedObjectSha256: string,
): Promise<VerifiedObject> {
  const opened = await openStored(blobStore, keys, row);
  if (opened.objectBytes !== row.objectBytes || opened.objectSha256 !== claimedObjectSha256) {
    throw retry(
      'upload.hash_mismatch',
      `the stored object (${opened.objectBytes} bytes) does not hash to what the agent sent; offer it again to re-send`,
      true,
    );
  }
  const manifest = checkedManifest(opened, row);
  const { metadata, charset } = await parsedHeader(opened.prefix);
  const fields = instanceFieldsOf(metadata);
  if (fields.sopInstanceUid !== row.sopInstanceUid) {
    throw refuse('the header names another SOP Instance UID than the offer');
  }
  return { objectSha256: opened.objectSha256, manifest, metadata, fields, ...(charset ? { charset } : {}) };
}
