import { FerryError } from '@ferry/shared';
import { and, arrayContains, asc, desc, eq, gte, like, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { escapeLike, type StudySummary, studySummaryColumns } from '../db/queries/studies.js';
import { facilities, studies } from '../db/schema/index.js';
import { patientSearchKey } from '../dicom/patient-search.js';
import { requireUser } from './permissions.js';

export type { StudySummary };

export const STUDY_PAGE_DEFAULT = 50;
export const STUDY_PAGE_MAX = 200;

export const studySorts = ['receivedAt', 'studyDate', 'patientName'] as const;
export type StudySort = (typeof studySorts)[number];
export type SortOrder = 'asc' | 'desc';
export const studyListStatuses = ['receiving', 'complete', 'updated'] as const;

export interface ListStudiesInput {
  facilityId?: string | undefined;
  modality?: string | undefined;
  /** Inclusive bounds on the study date, YYYYMMDD. */
  dateFrom?: string | undefined;
  dateTo?: string | undefined;
  /** `updated` selects studies with the updated flag, whatever their status. */
  status?: (typeof studyListStatuses)[number] | undefined;
  /** Start of the patient's name, of any word or component group of it, or of the patient id; case and accents ignored. */
  q?: string | undefined;
  sort?: StudySort | undefined;
  order?: SortOrder | undefined;
  /** The previous page's nextCursor, with the same sort and order. */
  cursor?: string | undefined;
  limit?: number | undefined;
}

const DEFAULT_ORDER: Record<StudySort, SortOrder> = {
  receivedAt: 'desc',
  studyDate: 'desc',
  patientName: 'asc',
};

/** The sort key as text (what a cursor carries), and as the value compared against it. */
function sortKey(sort: StudySort): { text: SQL<string>; expr: SQL; bound: (key: string) => SQL } {
  switch (sort) {
    case 'receivedAt':
      return {
        // Microseconds in UTC: a JavaScript Date would drop them and skip or repeat rows.
        text: sql<string>`to_char(${studies.lastReceivedAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
        expr: sql`${studies.lastReceivedAt}`,
        bound: (key) => sql`${key}::timestamptz`,
      };
    case 'studyDate':
      return {
        text: sql<string>`coalesce(${studies.studyDate}, '')`,
        expr: sql`coalesce(${studies.studyDate}, '')`,
        bound: (key) => sql`${key}::text`,
      };
    case 'patientName':
      return {
        text: sql<string>`${studies.patientNameSearch}`,
        expr: sql`${studies.patientNameSearch}`,
        bound: (key) => sql`${key}::text`,
      };
  }
}

interface Cursor {
  sort: StudySort;
  order: SortOrder;
  key: string;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.sort, c.order, c.key, c.id]), 'utf8').toString('base64url');
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decodeCursor(raw: string, sort: StudySort, order: SortOrder): Cursor {
  const bad = () =>
    new FerryError('request.invalid', 'cursor: not a cursor from this list; start again without it');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw bad();
  const [s, o, key, id] = parsed as unknown[];
  if (typeof key !== 'string' || key.length > 1024 || typeof id !== 'string' || !UUID_RE.test(id))
    throw bad();
  if (s !== sort || o !== order) {
    throw new FerryError('request.invalid', `cursor: it was made for sort=${String(s)}&order=${String(o)}`);
  }
  if (sort === 'receivedAt' && Number.isNaN(Date.parse(key))) throw bad();
  return { sort, order, key, id };
}

/**
 * The caller's group's studies, for the worklist: filtered, sorted, one page at a time (keyset
 * pagination over the sort key and the id, so pages neither skip nor repeat rows while studies
 * arrive). Readers and admins may list. Every filter is a bound parameter.
 */
export async function listStudies({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: ListStudiesInput;
}): Promise<{ studies: StudySummary[]; nextCursor: string | null }> {
  const actor = requireUser(ctx.actor);
  const limit = Math.min(Math.max(input.limit ?? STUDY_PAGE_DEFAULT, 1), STUDY_PAGE_MAX);
  const sort = input.sort ?? 'receivedAt';
  const order = input.order ?? DEFAULT_ORDER[sort];
  const key = sortKey(sort);
  const cursor = input.cursor === undefined ? undefined : decodeCursor(input.cursor, sort, order);

  const q = input.q === undefined ? '' : patientSearchKey(input.q);
  const qLike = escapeLike(q);
  const where = and(
    eq(studies.groupId, actor.groupId),
    input.facilityId !== undefined ? eq(studies.facilityId, input.facilityId) : undefined,
    input.modality !== undefined ? arrayContains(studies.modalities, [input.modality]) : undefined,
    input.dateFrom !== undefined ? gte(studies.studyDate, input.dateFrom) : undefined,
    input.dateTo !== undefined ? lte(studies.studyDate, input.dateTo) : undefined,
    input.status === 'updated'
      ? eq(studies.updated, true)
      : input.status !== undefined
        ? eq(studies.status, input.status)
        : undefined,
    q !== ''
      ? or(
          like(studies.patientNameSearch, `${qLike}%`),
          like(studies.patientNameSearch, `% ${qLike}%`),
          // The ideographic and phonetic groups of a name start after `=`.
          like(studies.patientNameSearch, `%=${qLike}%`),
          like(studies.patientIdSearch, `${qLike}%`),
        )
      : undefined,
    cursor
      ? order === 'desc'
        ? sql`(${key.expr}, ${studies.id}) < (${key.bound(cursor.key)}, ${cursor.id}::uuid)`
        : sql`(${key.expr}, ${studies.id}) > (${key.bound(cursor.key)}, ${cursor.id}::uuid)`
      : undefined,
  );
  const dir = order === 'desc' ? desc : asc;
  const rows = await ctx.db
    .select({ ...studySummaryColumns, sortKey: key.text })
    .from(studies)
    .innerJoin(facilities, eq(facilities.id, studies.facilityId))
    .where(where)
    .orderBy(dir(key.expr), dir(studies.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const nextCursor =
    rows.length > limit && last ? encodeCursor({ sort, order, key: last.sortKey, id: last.id }) : null;
  return { studies: page.map(({ sortKey: _, ...study }) => study), nextCursor };
}
