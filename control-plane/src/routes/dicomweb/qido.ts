/** QIDO-RS (PS3.18 10.6): study, series and instance searches, in the caller's group only. */
import type { Context } from 'hono';
import { ctxOf } from '../../http/context.js';
import type { AppEnv } from '../../http/types.js';
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

export async function searchStudiesHandler(c: Context<AppEnv>): Promise<Response> {
  const q = queryOf(c, 'study');
  const { matches, more } = await searchStudies({
    ctx: ctxOf(c),
    input: {
      filters: q.filters,
      limit: q.limit,
      offset: q.offset,
      fuzzy: q.fuzzy,
      withMetadata: wantsMetadata(q),
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
  const { matches, more } = await searchSeries({
    ctx: ctxOf(c),
    input: { studyUid, filters: q.filters, limit: q.limit, offset: q.offset, withMetadata: wantsMetadata(q) },
  });
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
  const { matches, more } = await searchInstances({
    ctx: ctxOf(c),
    input: {
      studyUid,
      seriesUid,
      filters: q.filters,
      limit: q.limit,
      offset: q.offset,
      metadataTags: instanceMetadataTags(q.include),
    },
  });
  const urls = resultUrls(c);
  return dicomJsonResponse(
    c,
    matches.map((m) => instanceResult(m, q.include, urls)),
    warnings(q, more),
  );
}
