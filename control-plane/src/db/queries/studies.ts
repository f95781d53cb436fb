import { FerryError } from '@ferry/shared';
import {
  and,
  asc,
  type Column,
  eq,
  getTableColumns,
  ilike,
  inArray,
  like,
  or,
  type SQL,
  sql,
} from 'drizzle-orm';
import type { PgSelect } from 'drizzle-orm/pg-core';
import type { DicomJson } from '../../dicom/dicom-json.js';
import type { DbOrTx } from '../client.js';
import { facilities, instances, series, studies } from '../schema/index.js';

/** A value to match as DICOM does: single value matching, or with `*` and `?` wildcards when `wildcard`. */
export interface WildcardValue {
  value: string;
  wildcard: boolean;
}

/** Inclusive date bounds, each YYYYMMDD. */
export interface DateRange {
  from?: string;
  to?: string;
}

export type StudyRow = typeof studies.$inferSelect;

/** A study with its facility's name: what the worklist and the study page show. */
export type StudySummary = StudyRow & { facilityName: string };

/** Which study a read touched: enough to audit it. */
export interface StudyRef {
  id: string;
  studyInstanceUid: string;
}

export const studySummaryColumns = { ...getTableColumns(studies), facilityName: facilities.name };

/** The study `studyUid` of `groupId` with its facility, or a 404 that does not tell another group's apart. */
export async function getStudyOr404(db: DbOrTx, groupId: string, studyUid: string): Promise<StudySummary> {
  const [row] = await db
    .select(studySummaryColumns)
    .from(studies)
    .innerJoin(facilities, eq(facilities.id, studies.facilityId))
    .where(and(eq(studies.groupId, groupId), eq(studies.studyInstanceUid, studyUid)));
  if (!row) throw new FerryError('resource.not_found', `no study ${studyUid} in your group`);
  return row;
}

/** Escapes LIKE's metacharacters (`\`, `%`, `_`) so text matches literally (backslash is the default escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A LIKE pattern from a DICOM wildcard value: `*` is any run, `?` any one character, the rest literal. */
export function wildcardToLike(value: string): string {
  return value
    .split(/([*?])/)
    .map((part) => (part === '*' ? '%' : part === '?' ? '_' : escapeLike(part)))
    .join('');
}

/**
 * A person name's search form matched by LIKE `pattern` as a whole or as any one of its component
 * groups (`alphabetic=ideographic=phonetic`), so 山田 太郎 finds Yamada^Tarou=山田^太郎=やまだ^たろう.
 */
export function nameGroupLike(column: Column | SQL, pattern: string): SQL {
  return or(
    like(column, pattern),
    like(column, `${pattern}=%`),
    like(column, `%=${pattern}`),
    like(column, `%=${pattern}=%`),
  ) as SQL;
}

/**
 * DICOM attribute matching of `column` against a value: single value matching unless the value holds
 * `*` or `?`. Always a bound parameter, never SQL text.
 */
export function matchText(
  column: Column | SQL,
  match: WildcardValue,
  opts: { caseInsensitive?: boolean } = {},
): SQL {
  if (opts.caseInsensitive) {
    return ilike(column, match.wildcard ? wildcardToLike(match.value) : escapeLike(match.value));
  }
  return match.wildcard ? like(column, wildcardToLike(match.value)) : sql`${column} = ${match.value}`;
}

/** A series' number as an integer, or null when it is not one (Series Number is text as sent). */
export function seriesNumberValue(s: typeof series): SQL<number | null> {
  return sql<
    number | null
  >`(case when ${s.seriesNumber} ~ '^ *-?[0-9]{1,9} *$' then trim(${s.seriesNumber})::int end)`;
}

/** Orders series by their number as a number (non-numeric ones last), then by UID. */
export function seriesOrder(s: typeof series): SQL[] {
  return [sql`${seriesNumberValue(s)} nulls last`, sql`${s.seriesInstanceUid}`];
}

/** Orders instances by their number (none last), then by UID. */
export function instanceOrder(i: typeof instances): SQL[] {
  return [sql`${i.instanceNumber} nulls last`, asc(i.sopInstanceUid)];
}

/** A series as the study page and the series search show it, with its id. */
export const seriesSummaryColumns = {
  id: series.id,
  seriesInstanceUid: series.seriesInstanceUid,
  modality: series.modality,
  seriesNumber: series.seriesNumber,
  description: series.description,
  instanceCount: series.instanceCount,
};

/** The series of study `studyId` of `groupId` that meet every one of `conditions`, in series order. */
export function selectStudySeries(
  db: DbOrTx,
  groupId: string,
  studyId: string,
  ...conditions: (SQL | undefined)[]
) {
  return db
    .select(seriesSummaryColumns)
    .from(series)
    .where(and(eq(series.groupId, groupId), eq(series.studyId, studyId), ...conditions))
    .orderBy(...seriesOrder(series));
}

/** Which current instances of a study to read: all, one series' (by UID) or one instance (by UID). */
export interface InstanceScope {
  seriesUid?: string | undefined;
  sopInstanceUid?: string | undefined;
}

/**
 * Conditions on `instances` joined to `series`: the current instances of study `studyId` of
 * `groupId`, narrowed to `scope`.
 */
export function currentInstancesIn(
  groupId: string,
  studyId: string,
  scope: InstanceScope,
): (SQL | undefined)[] {
  return [
    eq(instances.groupId, groupId),
    eq(instances.studyId, studyId),
    eq(instances.current, true),
    scope.seriesUid !== undefined ? eq(series.seriesInstanceUid, scope.seriesUid) : undefined,
    scope.sopInstanceUid !== undefined ? eq(instances.sopInstanceUid, scope.sopInstanceUid) : undefined,
  ];
}

/**
 * A dynamic select from `instances` narrowed to the current instances of study `studyId` of
 * `groupId` in `scope` (joined to their series), with `where` besides: the query every read of a
 * study's instances starts from, e.g. `inCurrentInstances(db.select(cols).from(instances).$dynamic(), …)`.
 */
export function inCurrentInstances<T extends PgSelect>(
  query: T,
  groupId: string,
  studyId: string,
  scope: InstanceScope,
  ...where: SQL[]
) {
  return query
    .innerJoin(series, eq(series.id, instances.seriesId))
    .where(and(...currentInstancesIn(groupId, studyId, scope), ...where));
}

/**
 * The 404 for a `scope` that was found to hold no current instance: its instance, else its series.
 * A whole-study scope passes (the study was checked already, and may be empty).
 */
export function assertScopeFound(found: boolean, scope: InstanceScope): void {
  if (found) return;
  if (scope.sopInstanceUid !== undefined) {
    throw new FerryError(
      'resource.not_found',
      `no instance ${scope.sopInstanceUid} in that series of your group`,
    );
  }
  if (scope.seriesUid !== undefined) {
    throw new FerryError('resource.not_found', `no series ${scope.seriesUid} in that study of your group`);
  }
}

/**
 * The header of one current instance per study (or per series) of `groupId`, the lowest-numbered
 * one: where study- and series-level attributes that have no column of their own are read from.
 */
export async function representativeMetadata(
  db: DbOrTx,
  groupId: string,
  by: 'study' | 'series',
  ids: string[],
): Promise<Map<string, DicomJson>> {
  if (ids.length === 0) return new Map();
  const key = by === 'study' ? instances.studyId : instances.seriesId;
  const rows = await db
    .selectDistinctOn([key], { id: key, metadata: instances.metadata })
    .from(instances)
    .where(and(eq(instances.groupId, groupId), inArray(key, ids), eq(instances.current, true)))
    .orderBy(asc(key), sql`${instances.instanceNumber} nulls last`, asc(instances.id));
  return new Map(rows.map((r) => [r.id, r.metadata as DicomJson]));
}

/**
 * A page of study or series rows, fetched with one row more than `limit`: the first `limit`, each
 * with its representative header (see `representativeMetadata`) when `withMetadata`, and whether
 * there are more.
 */
export async function pageWithMetadata<R extends { id: string }>(
  db: DbOrTx,
  groupId: string,
  by: 'study' | 'series',
  rows: R[],
  opts: { limit: number; withMetadata: boolean },
): Promise<{ page: { row: R; metadata: DicomJson | undefined }[]; more: boolean }> {
  const page = rows.slice(0, opts.limit);
  const metadata = opts.withMetadata
    ? await representativeMetadata(
        db,
        groupId,
        by,
        page.map((r) => r.id),
      )
    : new Map<string, DicomJson>();
  return {
    page: page.map((row) => ({ row, metadata: metadata.get(row.id) })),
    more: rows.length > opts.limit,
  };
}

/** `metadata` narrowed to `tags` in SQL (missing ones left out), so a page of instances stays small. */
export function metadataSubset(tags: readonly string[]): SQL<DicomJson> {
  if (tags.length === 0) return sql<DicomJson>`'{}'::jsonb`;
  // A function takes at most 100 arguments: build objects of 40 pairs and join them.
  const objects: SQL[] = [];
  for (let i = 0; i < tags.length; i += 40) {
    const pairs = tags.slice(i, i + 40).map((t) => sql`${t}::text, ${instances.metadata} -> ${t}::text`);
    objects.push(sql`jsonb_build_object(${sql.join(pairs, sql`, `)})`);
  }
  return sql<DicomJson>`jsonb_strip_nulls(${sql.join(objects, sql` || `)})`;
}

/**
 * Where an instance's sealed object lies, as storage/blob-location.ts reads it: the blob key, or
 * `key#offset+length` for a member of a pack.
 */
export const instanceBlobLocation = sql<string>`case when ${instances.blobOffset} is null then ${instances.blobKey} else ${instances.blobKey} || '#' || ${instances.blobOffset} || '+' || ${instances.objectBytes} end`;
