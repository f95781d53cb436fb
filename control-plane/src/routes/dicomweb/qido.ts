/** QIDO-RS (PS3.18 10.6): study, series and instance searches, in the caller's group only. */
import type { Context } from 'hono';
import type { Ctx } from '../../context.js';
import { ctxOf } from '../../edge/context.js';
import type { AppEnv } from '../../edge/types.js';
import { recordStudyRead, recordStudyReads, type StudyRef } from '../../services/record-study-reads.js';
import { searchInstances } from '../../services/search-instances.js';
import { searchSeries } from '../../services/search-series.js';
import { searchStudies } from '../../services/search-studies.js';
import { requireDicomJson } from './accept.js';
import { instanceMetadataTags, instanceResult, seriesResult, studyResult } from './dicom-json.js';
import { dicomJsonResponse, resultUrls, uidParam } from './params.js';
import { ignoredKeysWarning, parseQidoQuery, type QidoLevel, type QidoQuery } from './qido-query.js';

function warnings(q: QidoQuery<QidoLevel>, more: boolean): string[] {
  const out: string[] = [];
  const ignored = ignoredKeysWarning(q.ignored);
  if (ignored) out.push(ignored);
  if (more) {
    out.push(
      `299 ferry "There are more matches than limit=${q.limit}; ask again with offset=${q.offset + q.limit}"`,
    );
  }
  return out;
}

function queryOf<L extends QidoLevel>(c: Context<AppEnv>, level: L): QidoQuery<L> {
  requireDicomJson(c.req.header('accept'));
  return parseQidoQuery(new URL(c.req.url).searchParams, level);
}

function wantsMetadata(q: QidoQuery<QidoLevel>): boolean {
  return q.include === 'all' || q.include.size > 0;
}

/** Audits a search within one study that matched something (an empty answer discloses nothing of it). */
async function recordQuery(ctx: Ctx, study: StudyRef, found: number, details: Record<string, unknown>) {
  if (found === 0) return;
  await recordStudyRead(ctx, 'dicomweb.query', study, details);
}

export async function searchStudiesHandler(c: Context<AppEnv>): Promise<Response> {
  const q = queryOf(c, 'study');
  const ctx = ctxOf(c);
  const { matches, more } = await searchStudies({
    ctx,
    input: {
      filters: q.filters,
      limit: q.limit,
      offset: q.offset,
      fuzzy: q.fuzzy,
      withMetadata: wantsMetadata(q),
    },
  });
  await recordStudyReads({
    ctx,
    input: {
      action: 'dicomweb.query',
      reads: matches.map((m) => ({
        studyId: m.study.id,
        studyInstanceUid: m.study.studyInstanceUid,
        details: { level: 'study' },
      })),
    },
  });
  const urls = resultUrls(c);
  return dicomJsonResponse(
    c,
    matches.map((m) => studyResult(m.study, m.metadata, q.include, urls)),
    warnings(q, more),
  );
}

export async function searchSeriesHandler(c: Context<AppEnv>): Promise<Response> {
  const studyUid = uidParam(c, 'studyUid');
  const q = queryOf(c, 'series');
  const ctx = ctxOf(c);
  const { study, matches, more } = await searchSeries({
    ctx,
    input: { studyUid, filters: q.filters, limit: q.limit, offset: q.offset, withMetadata: wantsMetadata(q) },
  });
  await recordQuery(ctx, study, matches.length, { level: 'series', series: matches.length });
  const urls = resultUrls(c);
  return dicomJsonResponse(
    c,
    matches.map((m) => seriesResult(m, q.include, urls)),
    warnings(q, more),
  );
}

export async function searchInstancesHandler(c: Context<AppEnv>): Promise<Response> {
  const studyUid = uidParam(c, 'studyUid');
  const seriesUid = c.req.param('seriesUid') === undefined ? undefined : uidParam(c, 'seriesUid');
  const q = queryOf(c, 'instance');
  const ctx = ctxOf(c);
  const { study, matches, more } = await searchInstances({
    ctx,
    input: {
      studyUid,
      seriesUid,
      filters: q.filters,
      limit: q.limit,
      offset: q.offset,
      metadataTags: instanceMetadataTags(q.include),
    },
  });
  await recordQuery(ctx, study, matches.length, { level: 'instance', instances: matches.length });
  const urls = resultUrls(c);
  return dicomJsonResponse(
    c,
    matches.map((m) => instanceResult(m, q.include, urls)),
    warnings(q, more),
  );
}
