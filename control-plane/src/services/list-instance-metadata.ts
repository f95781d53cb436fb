import { and, asc, eq, gt } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { assertScopeFound, currentInstancesIn, getStudyOr404, type StudyRef } from '../db/queries/studies.js';
import { instances, series } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { requireUser } from './permissions.js';

export const METADATA_PAGE_MAX = 500;

export interface InstanceMetadata {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** The stored DICOM JSON of the header, up to the pixel data. */
  metadata: DicomJson;
}

/**
 * The stored headers of the current instances of one study of the caller's group (or of one series
 * or instance of it), a page at a time: pass the previous page's `next` as `after`. On the first page
 * an unknown study, series or instance is not found (404). Readers and admins may read.
 */
export async function listInstanceMetadata({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: {
    studyUid: string;
    seriesUid?: string | undefined;
    sopInstanceUid?: string | undefined;
    after?: string | undefined;
    limit: number;
  };
}): Promise<{ study: StudyRef; items: InstanceMetadata[]; next: string | null }> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const limit = Math.min(Math.max(input.limit, 1), METADATA_PAGE_MAX);
  const rows = await ctx.db
    .select({
      id: instances.id,
      seriesInstanceUid: series.seriesInstanceUid,
      sopInstanceUid: instances.sopInstanceUid,
      transferSyntaxUid: instances.transferSyntaxUid,
      metadata: instances.metadata,
    })
    .from(instances)
    .innerJoin(series, eq(series.id, instances.seriesId))
    .where(
      and(
        ...currentInstancesIn(actor.groupId, study.id, input),
        input.after !== undefined ? gt(instances.id, input.after) : undefined,
      ),
    )
    .orderBy(asc(instances.id))
    .limit(limit + 1);
  // Only the first page can tell an unknown series or instance from the end of the list.
  if (input.after === undefined) assertScopeFound(rows.length > 0, input);
  const page = rows.slice(0, limit);
  return {
    study: { id: study.id, studyInstanceUid: study.studyInstanceUid },
    items: page.map((r) => ({
      seriesInstanceUid: r.seriesInstanceUid,
      sopInstanceUid: r.sopInstanceUid,
      transferSyntaxUid: r.transferSyntaxUid,
      metadata: r.metadata as DicomJson,
    })),
    next: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
  };
}
