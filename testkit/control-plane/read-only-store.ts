import type { BlobStore } from '../../control-plane/src/storage/blob-store.js';

/** A BlobStore that only reads, through `get`: for tests of what opens stored objects. */
export function readOnlyStore(get: BlobStore['get']): BlobStore {
  const unused = () => Promise.reject(new Error('not used by this test'));
  return {
    kind: 'fs',
    createUpload: unused,
    partUrl: unused,
    listParts: unused,
    completeUpload: unused,
    abortUpload: unused,
    head: unused,
    putObject: unused,
    delete: unused,
    get,
  };
}
