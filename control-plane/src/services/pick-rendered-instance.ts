import { FerryError } from '@ferry/shared';
import { count, type SQL, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import {
  assertScopeFound,
  getStudyOr404,
  type InstanceScope,
  inCurrentInstances,
  instanceOrder,
  type StudyRef,
  seriesOrder,
} from '../db/queries/studies.js';
import { instances, series } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

/** The instance a rendered or thumbnail resource shows, and the stored object it is. */
export interface RenderedInstance {
  study: StudyRef;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** Changes when the instance is resent: what a cached rendering is keyed by. */
  objectId: string;
}

/** An image: its stored header has Rows (SR, RT plans, waveforms… have none). */
const isImage: SQL = sql`(${instances.metadata} -> '00280010') is not null`;

const columns = {
  seriesInstanceUid: series.seriesInstanceUid,
  sopInstanceUid: instances.sopInstanceUid,
  objectId: instances.objectId,
};

/**
 * Which current instance of the caller's group an image of a study, series or instance shows: the
 * instance itself; for a series its middle image by instance number; for a study the middle image of
 * its first series (by series number) that holds images. Not found (404) like every read of another
 * group's study; dicomweb.no_pixel_data when the series or study holds no image.
 */
export async function pickRenderedInstance({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string; seriesUid?: string | undefined; sopInstanceUid?: string | undefined };
}): Promise<RenderedInstance> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const ref: StudyRef = { id: study.id, studyInstanceUid: study.studyInstanceUid };
  const select = (scope: InstanceScope, ...where: SQL[]) =>
    inCurrentInstances(
      ctx.db.select(columns).from(instances).$dynamic(),
      actor.groupId,
      study.id,
      scope,
      ...where,
    );

  if (input.sopInstanceUid !== undefined) {
    // Whether it has pixels is for openInstancePixels to say (dicomweb.no_pixel_data).
    const [row] = await select(input).limit(1);
    assertScopeFound(row !== undefined, input);
    return { study: ref, ...row! };
  }

  let seriesUid = input.seriesUid;
  if (seriesUid === undefined) {
    const [first] = await select({}, isImage)
      .orderBy(...seriesOrder(series))
      .limit(1);
    if (!first) throw new FerryError('dicomweb.no_pixel_data', `study ${input.studyUid} holds no image`);
    seriesUid = first.seriesInstanceUid;
  }
  const [counted] = await inCurrentInstances(
    ctx.db.select({ n: count() }).from(instances).$dynamic(),
    actor.groupId,
    study.id,
    { seriesUid },
    isImage,
  );
  const images = counted?.n ?? 0;
  if (images === 0) {
    const [any] = await select({ seriesUid }).limit(1);
    assertScopeFound(any !== undefined, { seriesUid });
    throw new FerryError('dicomweb.no_pixel_data', `series ${seriesUid} holds no image`);
  }
  const [middle] = await select({ seriesUid }, isImage)
    .orderBy(...instanceOrder(instances))
    .limit(1)
    .offset(Math.floor((images - 1) / 2));
  if (!middle) throw new FerryError('resource.not_found', `series ${seriesUid} changed while it was read`);
  return { study: ref, ...middle };
}
