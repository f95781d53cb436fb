/** What recording an instance takes and answers (record-instances.ts and the modules it runs). */
import type { InstanceManifest, Receipt, TransportCoding } from '@ferry/shared';
import type { DicomJson } from '../dicom/dicom-json.js';
import type { InstanceFields, Reception } from './instance-fields.js';

/** One verified instance, as complete-uploads (or a test seeding studies) knows it. */
export interface RecordInstanceInput {
  groupId: string;
  facilityId: string;
  /** The gateway that received it; null only for instances that did not come through a gateway. */
  gatewayId: string | null;
  objectId: string;
  /** Where the sealed object lives in the blob store. */
  blobKey: string;
  /** Set when `blobKey` is a pack's blob: where the object lies in it (objectBytes long). */
  blobOffset?: number | null;
  /** From the object's encrypted manifest frame: only its reception facts are recorded (instance-fields.ts). */
  manifest: InstanceManifest;
  /** DICOM JSON of the header up to the Pixel Data (see dicom/dicom-json.ts): the index's fields come from it. */
  metadata: DicomJson;
  /** SHA-256 of the Part-10 plaintext. */
  sha256: string;
  /** SHA-256 of the sealed object as stored. */
  objectSha256: string;
  plainBytes: number;
  objectBytes: number;
  storedAt: Date;
  /** How the object travelled, as opened at ingest; absent for instances not uploaded by a gateway. */
  transportCoding?: TransportCoding | null;
}

export interface RecordedInstance {
  /** What the agent gets back. `duplicate` when the group already held this exact instance under another object. */
  receipt: Receipt;
  /** False when the same SOP Instance UID with the same hash was already stored: nothing was written. */
  created: boolean;
  instanceId: string;
  studyId: string;
  seriesId: string;
  version: number;
  /** This instance created its study (in a batch: the first created instance of a new study). */
  studyCreated: boolean;
  /** The study was complete and is receiving again (in a batch: on the first created instance). */
  reopened: boolean;
  /** An earlier version of this SOP Instance UID (other bytes) is no longer current. */
  newVersion: boolean;
}

/** One instance of a batch: its place in the input, its index fields and its reception. */
export interface Item {
  index: number;
  input: RecordInstanceInput;
  d: InstanceFields & Reception;
}

/**
 * A concurrent transaction stored the same SOP Instance UID and hash while this one was writing (only
 * possible across two studies: within one, the study lock orders them). Running again sees it as a
 * duplicate.
 */
export class ConcurrentRecordError extends Error {
  constructor() {
    super('a concurrent record stored the same instance; run the transaction again');
  }
}
