/**
 * The pixels of one stored instance, frame by frame, for WADO-RS /frames and the rendering routes.
 * In the caller's group only (another group's instance is the same 404 as an unknown one); readers
 * and admins may read. Auditing is the caller's: it knows what it gives away (frames, a rendering).
 */
import { FerryError, isEncapsulated } from '@ferry/shared';
import type { Ctx } from '../context.js';
import {
  assertScopeFound,
  getStudyOr404,
  inCurrentInstances,
  instanceBlobLocation,
  type StudyRef,
} from '../db/queries/studies.js';
import { instances } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { type InstanceAccessDeps, instanceIndex, readFrame } from '../storage/instance-index.js';
import { requireUser } from './permissions.js';

export interface InstancePixels {
  /** For the audit row. */
  study: StudyRef;
  sopInstanceUid: string;
  /** As stored (frames are never transcoded here). */
  transferSyntaxUid: string;
  /** True when frames are compressed bitstreams (an encapsulated syntax), false for native pixels. */
  encapsulated: boolean;
  /** The stored header (dicom/dicom-json.ts). */
  metadata: DicomJson;
  /** At least 1. */
  numberOfFrames: number;
  /**
   * Frame n (1-based): native = exact pixel bytes of that frame, little endian; encapsulated = the
   * frame's compressed bitstream (fragments concatenated). Throws dicomweb.frame_not_found.
   */
  frame(n: number): Promise<Buffer>;
}

/** What opening stored objects needs of the app (AppDeps fits). */
export type InstancePixelsDeps = InstanceAccessDeps;

/** A current instance with where its sealed object lives and its stored header. */
export interface StoredInstanceHeader {
  sopInstanceUid: string;
  objectId: string;
  blobKey: string;
  transferSyntaxUid: string;
  metadata: DicomJson;
}

/** The current instance `sopInstanceUid` of the caller's group with its blob and header, or a 404. */
export async function findStoredInstance(
  ctx: Ctx,
  input: { studyUid: string; seriesUid: string; sopInstanceUid: string },
): Promise<{ study: StudyRef; instance: StoredInstanceHeader }> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const [row] = await inCurrentInstances(
    ctx.db
      .select({
        sopInstanceUid: instances.sopInstanceUid,
        objectId: instances.objectId,
        blobKey: instanceBlobLocation,
        transferSyntaxUid: instances.transferSyntaxUid,
        metadata: instances.metadata,
      })
      .from(instances)
      .$dynamic(),
    actor.groupId,
    study.id,
    input,
  ).limit(1);
  assertScopeFound(row !== undefined, input);
  return {
    study: { id: study.id, studyInstanceUid: study.studyInstanceUid },
    instance: { ...row!, metadata: row!.metadata as DicomJson },
  };
}

/**
 * Opens an instance's pixels: the first open of an object streams it once to index its sealed frames
 * and its Pixel Data (cached by object id, offsets only); each frame then reads and decrypts only the
 * sealed frames that cover it. dicomweb.no_pixel_data when the instance holds none.
 */
export async function openInstancePixels({
  ctx,
  deps,
  input,
}: {
  ctx: Ctx;
  deps: InstancePixelsDeps;
  input: { studyUid: string; seriesUid: string; sopInstanceUid: string };
}): Promise<InstancePixels> {
  const { study, instance } = await findStoredInstance(ctx, input);
  const index = await instanceIndex(deps, instance);
  const pixels = index.layout.pixels;
  if (!pixels) {
    throw new FerryError('dicomweb.no_pixel_data', `instance ${input.sopInstanceUid} holds no pixel data`);
  }
  return {
    study,
    sopInstanceUid: instance.sopInstanceUid,
    transferSyntaxUid: instance.transferSyntaxUid,
    encapsulated: isEncapsulated(instance.transferSyntaxUid),
    metadata: instance.metadata,
    numberOfFrames: pixels.numberOfFrames,
    frame: (n: number) => readFrame(deps, index, n),
  };
}
