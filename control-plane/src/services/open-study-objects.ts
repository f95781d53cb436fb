/**
 * The stored objects of a study as Part-10 files, for the reads that hand out whole instances (WADO-RS
 * retrieve, the study download). Each object is decrypted and authenticated as it streams, and must be
 * the object its row names. Access and auditing are the caller's (listStoredInstances, downloadStudy).
 */
import type { InstanceAccessDeps } from '../storage/instance-index.js';
import { EpochKeyCache, openStoredObject } from '../storage/open-stored-object.js';
import { zipStream } from '../storage/zip-stream.js';
import type { StudyArchivePlan } from './download-study.js';

/** Where a sealed object lives and which object it must be. */
export interface StudyObjectRef {
  blobKey: string;
  objectId: string;
}

/** Streams one object's Part-10 bytes; throws `crypto.bad_object` on tampering, also midway. */
export type OpenStudyObject = (ref: StudyObjectRef) => AsyncGenerator<Buffer>;

/**
 * An opener for the objects of one request: they share one epoch key cache, so a study wrapped under a
 * few keys pays the unwrap a few times, not once per instance. Make one per request.
 */
export function openStudyObjects(deps: InstanceAccessDeps): OpenStudyObject {
  const keyCache = new EpochKeyCache();
  return (ref) =>
    openStoredObject({
      blobStore: deps.blobStore,
      privateKeys: deps.recipientPrivateKeys,
      key: ref.blobKey,
      objectId: ref.objectId,
      keyCache,
    });
}

/**
 * A download's zip (storage/zip-stream.ts): each entry is opened when the archive reaches it. A failure
 * midway fails the stream: the response must be aborted, not ended.
 */
export function studyArchiveStream(deps: InstanceAccessDeps, plan: StudyArchivePlan): AsyncGenerator<Buffer> {
  const open = openStudyObjects(deps);
  return zipStream(plan.entries.map((e) => ({ name: e.name, date: e.receivedAt, open: () => open(e) })));
}
