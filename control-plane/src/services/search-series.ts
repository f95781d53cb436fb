import { gt, inArray, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import {
  getStudyOr404,
  matchText,
  pageWithMetadata,
  type StudyRef,
  selectStudySeries,
  seriesNumberValue,
  type WildcardValue,
} from '../db/queries/studies.js';
import { series } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { requireUser } from './permissions.js';

export interface SeriesFilters {
  seriesInstanceUids?: string[] | undefined;
  modalities?: string[] | undefined;
  /** An integer, as text without sign padding or spaces. */
  seriesNumber?: string | undefined;
  seriesDescription?: WildcardValue | undefined;
}

export interface SeriesMatch {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: string | null;
  description: string | null;
  instanceCount: number;
  metadata: DicomJson | undefined;
}

/** Series filters as SQL conditions on the series table (shared with the instance search). */
export function seriesConditions(f: SeriesFilters) {
  return [
    f.seriesInstanceUids ? inArray(series.seriesInstanceUid, f.seriesInstanceUids) : undefined,
    f.modalities ? inArray(series.modality, f.modalities) : undefined,
    f.seriesNumber !== undefined ? sql`${seriesNumberValue(series)} = ${Number(f.seriesNumber)}` : undefined,
    f.seriesDescription
      ? matchText(series.description, f.seriesDescription, { caseInsensitive: true })
      : undefined,
  ];
}

/**
 * QIDO-RS series search in one study of the caller's group: series with at least one current
 * instance, in series-number order. The study must be the group's (404 otherwise). Returns one row
 * more than `limit` when there are more.
 */
export async function searchSeries({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string; filters: SeriesFilters; limit: number; offset: number; withMetadata: boolean };
}): Promise<{ study: StudyRef; matches: SeriesMatch[]; more: boolean }> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const rows = await selectStudySeries(
    ctx.db,
    actor.groupId,
    study.id,
    gt(series.instanceCount, 0),
    ...seriesConditions(input.filters),
  )
    .limit(input.limit + 1)
    .offset(input.offset);
  const { page, more } = await pageWithMetadata(ctx.db, actor.groupId, 'series', rows, input);
  return {
    study: { id: study.id, studyInstanceUid: study.studyInstanceUid },
    matches: page.map(({ row: { id: _id, ...s }, metadata }) => ({
      ...s,
      studyInstanceUid: study.studyInstanceUid,
      metadata,
    })),
    more,
  };
}
