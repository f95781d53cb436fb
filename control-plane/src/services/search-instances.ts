import { and, eq, inArray } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import {
  currentInstancesIn,
  getStudyOr404,
  instanceOrder,
  metadataSubset,
  type StudyRef,
  seriesOrder,
} from '../db/queries/studies.js';
import { instances, series } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { requireUser } from './permissions.js';
import { type SeriesFilters, seriesConditions } from './search-series.js';

export interface InstanceFilters extends SeriesFilters {
  sopInstanceUids?: string[] | undefined;
  sopClassUids?: string[] | undefined;
  instanceNumber?: number | undefined;
}

export interface InstanceMatch {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: string | null;
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  numberOfFrames: number | null;
  transferSyntaxUid: string;
  /** The stored header: all of it, or only `metadataTags`. */
  metadata: DicomJson;
}

/**
 * QIDO-RS instance search in one study (or one series of it) of the caller's group: current
 * instances in series then instance order. The study must be the group's (404 otherwise); a series
 * UID that names nothing there matches nothing. Returns one row more than `limit` when there are more.
 */
export async function searchInstances({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: {
    studyUid: string;
    seriesUid?: string | undefined;
    filters: InstanceFilters;
    limit: number;
    offset: number;
    /** Which header attributes to return: 'all', or these tags. */
    metadataTags: 'all' | readonly string[];
  };
}): Promise<{ study: StudyRef; matches: InstanceMatch[]; more: boolean }> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const f = input.filters;
  const rows = await ctx.db
    .select({
      seriesInstanceUid: series.seriesInstanceUid,
      modality: series.modality,
      seriesNumber: series.seriesNumber,
      sopInstanceUid: instances.sopInstanceUid,
      sopClassUid: instances.sopClassUid,
      instanceNumber: instances.instanceNumber,
      numberOfFrames: instances.numberOfFrames,
      transferSyntaxUid: instances.transferSyntaxUid,
      metadata: input.metadataTags === 'all' ? instances.metadata : metadataSubset(input.metadataTags),
    })
    .from(instances)
    .innerJoin(series, eq(series.id, instances.seriesId))
    .where(
      and(
        ...currentInstancesIn(actor.groupId, study.id, { seriesUid: input.seriesUid }),
        ...seriesConditions(f),
        f.sopInstanceUids ? inArray(instances.sopInstanceUid, f.sopInstanceUids) : undefined,
        f.sopClassUids ? inArray(instances.sopClassUid, f.sopClassUids) : undefined,
        f.instanceNumber !== undefined ? eq(instances.instanceNumber, f.instanceNumber) : undefined,
      ),
    )
    .orderBy(...seriesOrder(series), ...instanceOrder(instances))
    .limit(input.limit + 1)
    .offset(input.offset);
  return {
    study: { id: study.id, studyInstanceUid: study.studyInstanceUid },
    matches: rows.slice(0, input.limit).map((r) => ({
      ...r,
      studyInstanceUid: study.studyInstanceUid,
      metadata: r.metadata as DicomJson,
    })),
    more: rows.length > input.limit,
  };
}
