/**
 * Real sealed objects for tests, made the way the agent makes them: a Part-10 file (a real sample from
 * /work/shared/dicom-samples, optionally with rewritten UIDs or names, or padded to any size), a
 * manifest read from its header, an epoch key wrapped for the control plane's public key, and frames
 * sealed with ObjectSealer.
 *
 * ```ts
 * const obj = await sealTestObject({ recipientPublicKey: t.deps.recipientPublicKey, sample: 'MR_small.dcm' });
 * // obj.offer goes into POST /api/v1/agents/uploads; obj.bytes is what the agent PUTs.
 * const { recorded } = await seedTestInstance(t, gateway, { sample: 'CT_small.dcm', set: { patientName: 'DOE^JANE' } });
 * ```
 *
 * No vitest import here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type CodedFrame,
  deriveObjectKey,
  type InstanceManifest,
  newDataKey,
  type ObjectHeader,
  ObjectSealer,
  TS,
  type UploadOfferObject,
  wrapDataKey,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { pino } from 'pino';
import { systemCtx } from '../../control-plane/src/context.js';
import type { Db } from '../../control-plane/src/db/client.js';
import { arrayBufferOf, dcmjs } from '../../control-plane/src/dicom/dcmjs.js';
import { type DicomJson, firstString, parseDicomHeader } from '../../control-plane/src/dicom/dicom-json.js';
import { type RecordedInstance, recordInstances } from '../../control-plane/src/ingest/record-instances.js';
import { imageCodedFrames } from './image-object.js';

export const DICOM_SAMPLES_DIR = '/work/shared/dicom-samples/pydicom';

/** Attributes a test may rewrite in the sample before sealing (the dataset is re-encoded by dcmjs). */
export interface SampleChanges {
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  accessionNumber?: string;
  studyDescription?: string;
  studyDate?: string;
  modality?: string;
  instanceNumber?: number;
}

export interface SealTestObjectOptions {
  /** The control plane's X25519 public key (`t.deps.recipientPublicKey`). */
  recipientPublicKey: JWK;
  /** A file name in DICOM_SAMPLES_DIR (default `CT_small.dcm`); ignored when `part10` is given. */
  sample?: string;
  /** The plaintext Part-10 file itself. */
  part10?: Buffer;
  /** Attributes to rewrite first. */
  set?: SampleChanges;
  /** Grows the plaintext by about this many bytes with Dataset Trailing Padding (FFFC,FFFC) at its end. */
  padBytes?: number;
  objectId?: string;
  /** When the gateway received it (default: now). */
  receivedAt?: string;
  callingAeTitle?: string;
  calledAeTitle?: string;
  /** Plaintext bytes per data frame (default 1 MiB, as the agent). */
  frameBytes?: number;
  /** Share one epoch key across objects, as the agent does (default: a fresh key). */
  epochKey?: Buffer;
  /** Last word on the manifest (e.g. to make it lie about the SOP Instance UID). */
  manifest?: (m: InstanceManifest) => InstanceManifest;
  /** 'image': an image object, its pixels coded as image-object.ts does (default 'none'). */
  coding?: 'none' | 'image';
  /** Last word on an image object's coded frames (e.g. to make one hostile). */
  recode?: (frames: CodedFrame[]) => CodedFrame[];
}

export interface SealedTestObject {
  objectId: string;
  /** The sealed object: what is uploaded. */
  bytes: Buffer;
  /** The Part-10 plaintext. */
  plaintext: Buffer;
  manifest: InstanceManifest;
  /** DICOM JSON of the plaintext's header, as the control plane stores it. */
  metadata: DicomJson;
  sha256: string;
  plainBytes: number;
  objectSha256: string;
  objectBytes: number;
  /** The object as the agent offers it. */
  offer: UploadOfferObject;
}

const silentLog = pino({ level: 'silent' });
const samples = new Map<string, Promise<Buffer>>();

/** A sample file's bytes (cached per process). */
export function readSample(name = 'CT_small.dcm'): Promise<Buffer> {
  let p = samples.get(name);
  if (!p) {
    p = readFile(`${DICOM_SAMPLES_DIR}/${name}`);
    samples.set(name, p);
  }
  return p;
}

export function newTestObjectId(): string {
  return `t${randomBytes(15).toString('base64url')}`;
}

/** A fresh DICOM UID under 2.25 (a UUID as an integer), for tests that need distinct instances. */
export function newTestUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function transferSyntaxOf(part10: Buffer): string {
  const ts = dcmjs.data.DicomMessage.readFile(arrayBufferOf(part10), { untilTag: '00080005' }).meta[
    '00020010'
  ]?.Value;
  return Array.isArray(ts) && typeof ts[0] === 'string' ? ts[0] : TS.ExplicitVRLittleEndian;
}

/** Rewrites attributes of a Part-10 file (decoded and re-encoded by dcmjs: test data only). */
export function rewriteSample(part10: Buffer, set: SampleChanges): Buffer {
  const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(part10));
  const put = (tag: string, vr: string, value: unknown) => {
    file.dict[tag] = { vr, Value: [value] };
  };
  if (set.studyInstanceUid !== undefined) put('0020000D', 'UI', set.studyInstanceUid);
  if (set.seriesInstanceUid !== undefined) put('0020000E', 'UI', set.seriesInstanceUid);
  if (set.sopInstanceUid !== undefined) {
    put('00080018', 'UI', set.sopInstanceUid);
    file.meta['00020003'] = { vr: 'UI', Value: [set.sopInstanceUid] };
  }
  if (set.patientName !== undefined) put('00100010', 'PN', { Alphabetic: set.patientName });
  if (set.patientId !== undefined) put('00100020', 'LO', set.patientId);
  if (set.patientBirthDate !== undefined) put('00100030', 'DA', set.patientBirthDate);
  if (set.accessionNumber !== undefined) put('00080050', 'SH', set.accessionNumber);
  if (set.studyDescription !== undefined) put('00081030', 'LO', set.studyDescription);
  if (set.studyDate !== undefined) put('00080020', 'DA', set.studyDate);
  if (set.modality !== undefined) put('00080060', 'CS', set.modality);
  if (set.instanceNumber !== undefined) put('00200013', 'IS', set.instanceNumber);
  if (set.patientName !== undefined || set.studyDescription !== undefined) {
    // Names may now hold any Unicode: say so.
    file.dict['00080005'] = { vr: 'CS', Value: ['ISO_IR 192'] };
  }
  return Buffer.from(file.write());
}

/** Appends Dataset Trailing Padding (FFFC,FFFC) of about `bytes` bytes (even) to an uncompressed-header file. */
export function padSample(part10: Buffer, bytes: number): Buffer {
  const ts = transferSyntaxOf(part10);
  if (ts === TS.DeflatedExplicitVRLittleEndian) throw new Error('cannot pad a deflated dataset');
  const length = bytes + (bytes % 2);
  const head = Buffer.alloc(12);
  let headLength: number;
  if (ts === TS.ImplicitVRLittleEndian) {
    head.writeUInt16LE(0xfffc, 0);
    head.writeUInt16LE(0xfffc, 2);
    head.writeUInt32LE(length, 4);
    headLength = 8;
  } else if (ts === TS.ExplicitVRBigEndian) {
    head.writeUInt16BE(0xfffc, 0);
    head.writeUInt16BE(0xfffc, 2);
    head.write('OB', 4, 'latin1');
    head.writeUInt32BE(length, 8);
    headLength = 12;
  } else {
    head.writeUInt16LE(0xfffc, 0);
    head.writeUInt16LE(0xfffc, 2);
    head.write('OB', 4, 'latin1');
    head.writeUInt32LE(length, 8);
    headLength = 12;
  }
  return Buffer.concat([part10, head.subarray(0, headLength), Buffer.alloc(length)]);
}

/** The manifest the agent would write for this file (it reads the same header fields). */
export function manifestFor(
  metadata: DicomJson,
  opts: {
    objectId: string;
    receivedAt: string;
    transferSyntaxUid: string;
    callingAeTitle: string;
    calledAeTitle: string;
  },
): InstanceManifest {
  const s = (tag: string) => firstString(metadata, tag);
  const frames = s('00280008');
  return {
    objectId: opts.objectId,
    receivedAt: opts.receivedAt,
    callingAeTitle: opts.callingAeTitle,
    calledAeTitle: opts.calledAeTitle,
    transferSyntaxUid: opts.transferSyntaxUid,
    sopClassUid: s('00080016') ?? '',
    sopInstanceUid: s('00080018') ?? '',
    patient: { name: s('00100010'), id: s('00100020'), birthDate: s('00100030'), sex: s('00100040') },
    study: {
      instanceUid: s('0020000D'),
      date: s('00080020'),
      time: s('00080030'),
      description: s('00081030'),
      accessionNumber: s('00080050'),
      referringPhysician: s('00080090'),
    },
    series: {
      instanceUid: s('0020000E'),
      modality: s('00080060'),
      number: s('00200011'),
      description: s('0008103E'),
    },
    ...(frames && /^\d+$/.test(frames) ? { numberOfFrames: Number(frames) } : {}),
  };
}

/** Seals a real DICOM sample for the control plane's key, as the agent's spool does. */
export async function sealTestObject(opts: SealTestObjectOptions): Promise<SealedTestObject> {
  let plaintext = opts.part10 ?? (await readSample(opts.sample));
  if (opts.set) plaintext = rewriteSample(plaintext, opts.set);
  if (opts.padBytes) plaintext = padSample(plaintext, opts.padBytes);
  const objectId = opts.objectId ?? newTestObjectId();
  const receivedAt = opts.receivedAt ?? new Date().toISOString();
  const parsed = await parseDicomHeader(plaintext, { whole: true });
  let manifest = manifestFor(parsed.metadata, {
    objectId,
    receivedAt,
    transferSyntaxUid: parsed.transferSyntaxUid ?? TS.ExplicitVRLittleEndian,
    callingAeTitle: opts.callingAeTitle ?? 'MODALITY',
    calledAeTitle: opts.calledAeTitle ?? 'FERRY',
  });
  if (opts.manifest) manifest = opts.manifest(manifest);

  const epochKey = opts.epochKey ?? newDataKey();
  const header: ObjectHeader = {
    v: 1,
    objectId,
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    wrappedKey: await wrapDataKey(epochKey, opts.recipientPublicKey),
    compression: opts.coding ?? 'none',
    contentType: 'application/dicom',
    createdAt: receivedAt,
  };
  const sealer = new ObjectSealer(header, deriveObjectKey(epochKey, objectId));
  const out: Buffer[] = [sealer.headerBytes, ...sealer.sealManifest(manifest)];
  if (opts.coding === 'image') {
    const coded = await imageCodedFrames(plaintext);
    const frames = opts.recode ? opts.recode(coded) : coded;
    frames.forEach((f, i) => {
      out.push(...sealer.sealCoded(f, i === frames.length - 1));
    });
    if (frames.length === 0) out.push(...sealer.sealCoded({ parts: [], rawBytes: 0, codec: 'raw' }, true));
  } else {
    const frameBytes = opts.frameBytes ?? 1 << 20;
    if (plaintext.length === 0) out.push(...sealer.sealData([], true));
    for (let at = 0; at < plaintext.length; at += frameBytes) {
      const end = Math.min(plaintext.length, at + frameBytes);
      out.push(...sealer.sealData([plaintext.subarray(at, end)], end === plaintext.length));
    }
  }
  const bytes = Buffer.concat(out);
  const plainSha = sha256(plaintext);
  return {
    objectId,
    bytes,
    plaintext,
    manifest,
    metadata: parsed.metadata,
    sha256: plainSha,
    plainBytes: plaintext.length,
    objectSha256: sha256(bytes),
    objectBytes: bytes.length,
    offer: {
      objectId,
      sopInstanceUid: manifest.sopInstanceUid,
      ...(manifest.study.instanceUid ? { studyInstanceUid: manifest.study.instanceUid } : {}),
      sha256: plainSha,
      plainBytes: plaintext.length,
      objectBytes: bytes.length,
      receivedAt,
    },
  };
}

/** What seedTestInstance needs of a test app (a TestApp fits). */
export interface SeedTarget {
  database: { db: Db };
  deps: { recipientPublicKey: JWK };
}

/**
 * Puts one instance into the index directly through recordInstances (as the system), without a blob:
 * the quick way to seed studies for worklist and query tests. The blob key names no stored object.
 */
export async function seedTestInstance(
  t: SeedTarget,
  where: { groupId: string; facilityId: string; gatewayId?: string | null },
  opts: Omit<SealTestObjectOptions, 'recipientPublicKey'> & { storedAt?: Date } = {},
): Promise<{ sealed: SealedTestObject; recorded: RecordedInstance }> {
  const sealed = await sealTestObject({ ...opts, recipientPublicKey: t.deps.recipientPublicKey });
  const [recorded] = await recordInstances({
    ctx: systemCtx(t.database.db, silentLog, 'seed'),
    input: [
      {
        groupId: where.groupId,
        facilityId: where.facilityId,
        gatewayId: where.gatewayId ?? null,
        objectId: sealed.objectId,
        blobKey: `g/${where.groupId}/o/${sealed.objectId}.fobj`,
        manifest: sealed.manifest,
        metadata: sealed.metadata,
        sha256: sealed.sha256,
        objectSha256: sealed.objectSha256,
        plainBytes: sealed.plainBytes,
        objectBytes: sealed.objectBytes,
        storedAt: opts.storedAt ?? new Date(),
      },
    ],
  });
  if (!recorded) throw new Error('recordInstances answered nothing');
  return { sealed, recorded };
}
