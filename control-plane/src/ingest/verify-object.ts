/**
 * Verifies one uploaded object as stored: the ciphertext hash the agent claimed, every frame opened
 * and authenticated, the plaintext hash and size the offer claimed, the manifest, and the header parsed
 * here (the index's one source of fields, instance-fields.ts), which must name the offered SOP Instance
 * UID. A torn upload is a retry on a fresh upload; a bad object is refused.
 */
import {
  FerryError,
  type InstanceManifest,
  instanceManifestSchema,
  isFerryError,
  type TransportCoding,
} from '@ferry/shared';
import type { UploadRow } from '../db/queries/ingest-uploads.js';
import type { DicomJson, ParsedHeader } from '../dicom/dicom-json.js';
import { getLocated, locationOf } from '../storage/blob-location.js';
import type { BlobStore } from '../storage/blob-store.js';
import { HashingReader } from './hashing-reader.js';
import { type InstanceFields, instanceFieldsOf } from './instance-fields.js';
import { type Keys, type Opened, openFrom } from './opened.js';
import { takeChecked } from './stream-checks.js';
import { storage } from './upload-store.js';
import { refuse, retry } from './verdict.js';

export type { Keys } from './opened.js';

/** What reading, checking and opening a stored object gives. */
export interface VerifiedObject {
  objectSha256: string;
  manifest: InstanceManifest;
  /** The header as parsed here: stored as the instance's metadata. */
  metadata: DicomJson;
  /** The index's fields, from `metadata`. */
  fields: InstanceFields;
  /** How the object's data frames were coded (compression, JPEG-LS frames). */
  transport: TransportCoding;
  /** Set when text was decoded leniently (unknown character set terms or escapes, invalid bytes). */
  charset?: ParsedHeader['charset'];
}

async function readStored(blobStore: BlobStore, row: UploadRow) {
  const location = locationOf(row.blobKey, row.blobOffset, row.objectBytes);
  return storage('read the object', () => getLocated(blobStore, location)).catch((err: unknown) => {
    if (isFerryError(err, 'resource.not_found'))
      throw retry('upload.incomplete', 'the object has not arrived; send it, then complete again');
    throw err;
  });
}

/** Reads the stored object back, once. */
async function openStored(blobStore: BlobStore, keys: Keys, row: UploadRow): Promise<Opened> {
  const source = await readStored(blobStore, row);
  try {
    return await openFrom(new HashingReader(source), keys);
  } finally {
    source.destroy();
  }
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

/** Verifies the object stored for `row`, which the agent says hashes to `claimedObjectSha256`. */
export async function verifyObject(
  blobStore: BlobStore,
  keys: Keys,
  row: UploadRow,
  claimedObjectSha256: string,
): Promise<VerifiedObject> {
  // Checked as the PUT wrote it (fs single PUT, or a pack on either store), else read back (a pack
  // member as a range of its pack): the same checks follow either way.
  const opened = (await takeChecked(blobStore, row)) ?? (await openStored(blobStore, keys, row));
  if (opened.objectBytes !== row.objectBytes || opened.objectSha256 !== claimedObjectSha256) {
    throw retry(
      'upload.hash_mismatch',
      `the stored object (${opened.objectBytes} bytes) does not hash to what the agent sent; offer it again to re-send`,
      true,
    );
  }
  const manifest = checkedManifest(opened, row);
  // Set whenever the object opened, which checkedManifest has just required.
  if (!opened.transport) throw refuse('the object does not open');
  const { metadata, charset } = opened.head;
  const fields = instanceFieldsOf(metadata);
  if (fields.sopInstanceUid !== row.sopInstanceUid) {
    throw refuse('the header names another SOP Instance UID than the offer');
  }
  return {
    objectSha256: opened.objectSha256,
    manifest,
    metadata,
    fields,
    transport: opened.transport,
    ...(charset ? { charset } : {}),
  };
}
