import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import {
  getStudyOr404,
  matchText,
  representativeMetadata,
  seriesOrder,
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
    f.seriesNumber !== undefined
      ? sql`(case when ${series.seriesNumber} ~ '^ *-?[0-9]{1,9} *$' then trim(${series.seriesNumber})::int end) = ${Number(f.seriesNumber)}`
      : undefined,
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
}): Promise<{ matches: SeriesMatch[]; more: boolean }> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const rows = await ctx.db
    .select({
      id: series.id,
      seriesInstanceUid: series.seriesInstanceUid,
      modality: series.modality,
      seriesNumber: series.seriesNumber,
      description: series.description,
      instanceCount: series.instanceCount,
    })
    .from(series)
    .where(
      and(
        eq(series.groupId, actor.groupId),
        eq(series.studyId, study.id),
        gt(series.instanceCount, 0),
        ...seriesConditions(input.filters),
      ),
    )
    .orderBy(...seriesOrder(series))
    .limit(input.limit + 1)
    .offset(input.offset);
  const page = rows.slice(0, input.limit);
  const metadata = input.withMetadata
    ? await representativeMetadata(
        ctx.db,
        actor.groupId,
        'series',
        page.map((s) => s.id),
      )
    : new Map<string, DicomJson>();
  return {
    matches: page.map(({ id, ...s }) => ({
      ...s,
      studyInstanceUid: study.studyInstanceUid,
      metadata: metadata.get(id),
    })),
    more: rows.length > input.limit,
  };
}
