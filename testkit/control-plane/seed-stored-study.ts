/**
 * Seeds stored instances for read-side tests (worklist, study page, download, DICOMweb): a real sample
 * sealed for the app's key (sealTestObject), recorded in the index (recordInstances, via
 * seedTestInstance), and its sealed bytes put into the app's blob store through the store's own upload
 * path, so `blobStore.get` and openStoredObject see exactly what an agent would have uploaded.
 *
 * No vitest import here.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { FsBlobStore } from '../../control-plane/src/storage/fs-blob-store.js';
import type { TestApp } from './harness.js';
import { type SealedTestObject, type SealTestObjectOptions, seedTestInstance } from './seal-object.js';

/**
 * Puts `bytes` at `key` in the app's blob store with one signed single PUT, as an agent uploads an
 * object, and publishes it. The fs store's PUT is taken by the store itself (verifyPartRequest,
 * receivePart): the app's route also wants an open upload row, which a seeded instance has not.
 */
export async function putTestBlob(t: TestApp, key: string, bytes: Buffer): Promise<void> {
  const store = t.deps.blobStore;
  const upload = await store.createUpload({ key, uploadId: randomUUID(), parts: 1 });
  const url = await store.partUrl(upload, { partNumber: 1, length: bytes.length, single: true }, 300);
  if (store instanceof FsBlobStore) {
    const u = new URL(url);
    const fields = store.verifyPartRequest({
      uploadId: upload.uploadId,
      partNumber: '1',
      query: Object.fromEntries(u.searchParams),
    });
    await store.receivePart(fields, Readable.from([bytes]));
  } else {
    const init = {
      method: 'PUT',
      body: new Uint8Array(bytes),
      headers: { 'content-length': String(bytes.length) },
    };
    const res = await fetch(url, init);
    if (!res.ok) throw new Error(`blob PUT for ${key} answered ${res.status}: ${await res.text()}`);
  }
  await store.completeUpload(upload, [{ partNumber: 1, size: bytes.length }]);
}

export interface StoredTestInstance {
  sealed: SealedTestObject;
  blobKey: string;
  studyId: string;
  version: number;
}

/** One instance recorded in the index with its sealed object in the blob store. */
export async function seedStoredInstance(
  t: TestApp,
  where: { groupId: string; facilityId: string },
  opts: Omit<SealTestObjectOptions, 'recipientPublicKey'> & { storedAt?: Date } = {},
): Promise<StoredTestInstance> {
  const { sealed, recorded } = await seedTestInstance(t, where, opts);
  // seedTestInstance records the key the control plane makes for an object.
  const blobKey = `g/${where.groupId}/o/${sealed.objectId}.fobj`;
  await putTestBlob(t, blobKey, sealed.bytes);
  return { sealed, blobKey, studyId: recorded.studyId, version: recorded.version };
}

/**
 * Runs `fn` while the stored object of `instance` has one byte flipped 40 bytes before its end (its
 * last frame then fails to open, after the good ones), and puts the good bytes back afterwards.
 */
export async function withTamperedBlob<T>(
  t: TestApp,
  instance: StoredTestInstance,
  fn: () => Promise<T>,
): Promise<T> {
  const tampered = Buffer.from(instance.sealed.bytes);
  tampered.writeUInt8(tampered.readUInt8(tampered.length - 40) ^ 0xff, tampered.length - 40);
  // No upload replaces a stored object (a receipt is final), so the damage is done as a failing disk
  // would leave it: the object goes, and other bytes come in its place.
  const replace = async (bytes: Buffer) => {
    await t.deps.blobStore.delete(instance.blobKey);
    await putTestBlob(t, instance.blobKey, bytes);
  };
  await replace(tampered);
  try {
    return await fn();
  } finally {
    await replace(instance.sealed.bytes);
  }
}
