import { FerryError } from '@ferry/shared';
import { and, asc, type Column, eq, getTableColumns, ilike, inArray, like, type SQL, sql } from 'drizzle-orm';
import type { DicomJson } from '../../dicom/dicom-json.js';
import type { DbOrTx } from '../client.js';
import { facilities, instances, type series, studies } from '../schema/index.js';

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

/** Orders series by their number as a number (non-numeric ones last), then by UID. */
export function seriesOrder(s: typeof series): SQL[] {
  return [
    sql`(case when ${s.seriesNumber} ~ '^ *-?[0-9]{1,9} *$' then trim(${s.seriesNumber})::int end) nulls last`,
    sql`${s.seriesInstanceUid}`,
  ];
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
