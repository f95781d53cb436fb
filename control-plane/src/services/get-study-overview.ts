import { and, desc, eq, gt, lte, ne, or, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { getStudyOr404, type StudySummary, selectStudySeries } from '../db/queries/studies.js';
import { instances } from '../db/schema/index.js';
import {
  groupInstanceVersions,
  instanceVersionColumns,
  type StudyEvent,
  type StudyInstance,
  type StudySeries,
  selectStudyEvents,
} from './get-study.js';
import { requireUser } from './permissions.js';
import { recordStudyRead } from './record-study-reads.js';

/** Instances per page on the study page, and the most a page may ask for. */
export const INSTANCE_PAGE_DEFAULT = 50;
export const INSTANCE_PAGE_MAX = 200;

/** A series with one page of its instances (every stored version of each). */
export interface SeriesInstancePage extends StudySeries {
  /** How many instances come before this page (0 on the first). */
  offset: number;
  /** Instances of the series with any stored version, current or not: what the pages run over. */
  total: number;
}

export interface StudyOverview {
  study: StudySummary;
  series: SeriesInstancePage[];
  /** Study events (created, completed, reopened, new_version) in time order. */
  events: StudyEvent[];
}

/**
 * One study of the caller's group for the study page: its series, each with one page of its instances
 * and their versions, and its events. Every series shows its first `limit` instances except
 * `seriesUid`, which shows the page at `offset`; so a study of thousands of instances costs a page of
 * rows, not all of them (getStudy, for the API, reads every one). Another group's study is not found
 * (404, never 403). Audited as study.read with the number of instances shown.
 */
export async function getStudyOverview({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string; seriesUid?: string | undefined; offset: number; limit: number };
}): Promise<StudyOverview> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const seriesRows = await selectStudySeries(ctx.db, actor.groupId, study.id);
  const pagedId = seriesRows.find((s) => s.seriesInstanceUid === input.seriesUid)?.id;
  const offset = pagedId ? input.offset : 0;

  // Each instance's place in its series (current instance number, then UID; an instance resent into
  // another study keeps its place here by its old number) and the series' count, in one pass.
  const number = sql`coalesce(min(${instances.instanceNumber}) filter (where ${instances.current}), min(${instances.instanceNumber}))`;
  const keys = ctx.db.$with('page_keys').as(
    ctx.db
      .select({
        seriesId: sql<string>`${instances.seriesId}`.as('key_series_id'),
        sopInstanceUid: sql<string>`${instances.sopInstanceUid}`.as('key_sop_instance_uid'),
        position:
          sql<number>`(row_number() over (partition by ${instances.seriesId} order by ${number} nulls last, ${instances.sopInstanceUid}))::int`.as(
            'position',
          ),
        total: sql<number>`(count(*) over (partition by ${instances.seriesId}))::int`.as('total'),
      })
      .from(instances)
      .where(and(eq(instances.groupId, actor.groupId), eq(instances.studyId, study.id)))
      .groupBy(instances.seriesId, instances.sopInstanceUid),
  );
  const onPage = pagedId
    ? or(
        and(eq(keys.seriesId, pagedId), gt(keys.position, offset), lte(keys.position, offset + input.limit)),
        and(ne(keys.seriesId, pagedId), lte(keys.position, input.limit)),
      )
    : lte(keys.position, input.limit);
  const rows = await ctx.db
    .with(keys)
    .select({ ...instanceVersionColumns, total: keys.total })
    .from(instances)
    .innerJoin(
      keys,
      and(eq(keys.seriesId, instances.seriesId), eq(keys.sopInstanceUid, instances.sopInstanceUid)),
    )
    .where(and(eq(instances.groupId, actor.groupId), eq(instances.studyId, study.id), onPage))
    .orderBy(keys.position, desc(instances.version));

  const totals = new Map(rows.map((r) => [r.seriesId, r.total]));
  const grouped = groupInstanceVersions(rows.map(({ total: _t, ...r }) => r));
  const series = seriesRows.map(({ id, ...s }): SeriesInstancePage => {
    const list: StudyInstance[] = grouped.get(id) ?? [];
    return {
      ...s,
      instances: list,
      offset: id === pagedId ? offset : 0,
      // A page past the end has no rows to carry the count: the current instances stand in.
      total: totals.get(id) ?? s.instanceCount,
    };
  });
  const events = await selectStudyEvents(ctx.db, study.id);
  await recordStudyRead(ctx, 'study.read', study, {
    instances: series.reduce((n, s) => n + s.instances.length, 0),
  });
  return { study, series, events };
}
