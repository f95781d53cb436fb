/**
 * One bulk data value of a stored instance (WADO-RS bulk data: the values /metadata gives as
 * BulkDataURIs), read by random access through the instance's index (storage/instance-index.ts). In
 * the caller's group only (findStoredInstance); auditing is the caller's.
 */
import { FerryError } from '@ferry/shared';
import type { Ctx } from '../context.js';
import type { StudyRef } from '../db/queries/studies.js';
import { BULK_DATA_PATH, PIXEL_DATA } from '../dicom/dicom-json.js';
import {
  type InstanceAccessDeps,
  instanceIndex,
  readFrame,
  streamBulkValue,
} from '../storage/instance-index.js';
import { findStoredInstance } from './open-instance-pixels.js';

export interface InstanceBulkData {
  /** For the audit row. */
  study: StudyRef;
  /** As stored. */
  transferSyntaxUid: string;
  /**
   * The value's parts: encapsulated Pixel Data frame by frame (its fragments joined), any other value
   * (native Pixel Data too) in one part, little endian, read in chunks.
   */
  bodies: (() => AsyncIterable<Buffer>)[];
}

/**
 * Opens the value at `path` (`tag`, `tag/item/tag`…, upper case): dicomweb.bulkdata_not_found when the
 * path is not one or the instance holds none there, dicomweb.no_pixel_data when it holds no pixels.
 * Nothing is read yet but the instance's index.
 */
export async function openBulkData({
  ctx,
  deps,
  input,
}: {
  ctx: Ctx;
  deps: InstanceAccessDeps;
  input: { studyUid: string; seriesUid: string; sopInstanceUid: string; path: string };
}): Promise<InstanceBulkData> {
  const { path, ...target } = input;
  const { study, instance } = await findStoredInstance(ctx, target);
  if (!BULK_DATA_PATH.test(path)) {
    throw new FerryError('dicomweb.bulkdata_not_found', `no bulk data at ${path.slice(0, 100)}`);
  }
  const index = await instanceIndex(deps, instance);
  const px = index.layout.pixels;
  if (path === PIXEL_DATA && !px) {
    throw new FerryError('dicomweb.no_pixel_data', `instance ${input.sopInstanceUid} holds no pixel data`);
  }
  const frames = path === PIXEL_DATA && px?.kind === 'encapsulated' ? px.numberOfFrames : 0;
  // Throws bulkdata_not_found now, before anything is answered, when the instance holds no such value.
  const value = frames > 0 ? undefined : streamBulkValue(deps, index, path);
  const bodies: (() => AsyncIterable<Buffer>)[] = value
    ? [() => value]
    : Array.from(
        { length: frames },
        (_, i) =>
          async function* () {
            yield await readFrame(deps, index, i + 1);
          },
      );
  return { study, transferSyntaxUid: instance.transferSyntaxUid, bodies };
}
