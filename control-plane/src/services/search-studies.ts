import { and, arrayOverlaps, desc, eq, gt, gte, inArray, like, lte, or, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import {
  type DateRange,
  escapeLike,
  matchText,
  nameGroupLike,
  pageWithMetadata,
  type StudySummary,
  studySummaryColumns,
  type WildcardValue,
  wildcardToLike,
} from '../db/queries/studies.js';
import { facilities, studies } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { patientSearchKey } from '../dicom/patient-search.js';
import { requireUser } from './permissions.js';

export type { DateRange, WildcardValue };

export interface StudyFilters {
  patientName?: WildcardValue | undefined;
  patientId?: WildcardValue | undefined;
  studyInstanceUids?: string[] | undefined;
  studyDate?: DateRange | undefined;
  modalitiesInStudy?: string[] | undefined;
  accessionNumber?: WildcardValue | undefined;
  studyDescription?: WildcardValue | undefined;
  referringPhysicianName?: WildcardValue | undefined;
}

export interface SearchStudiesInput {
  filters: StudyFilters;
  limit: number;
  offset: number;
  /** A patient name also matches at the start of any word or component group of it. */
  fuzzy: boolean;
  /** Read one instance's header per study too (for attributes without a column). */
  withMetadata: boolean;
}

export interface StudyMatch {
  study: StudySummary;
  /** One current instance's header, when asked for. */
  metadata: DicomJson | undefined;
}

/**
 * Patient name matching on the search form of the name (case and accents ignored, `^` as a space),
 * the same form the index stores: `*` and `?` are wildcards, anything else is literal. A value matches
 * the whole name or any one component group (alphabetic, ideographic, phonetic).
 */
export function patientNameCondition(match: WildcardValue, fuzzy: boolean): SQL | undefined {
  const key = patientSearchKey(match.value);
  if (key === '') return undefined;
  const pattern = wildcardToLike(key);
  if (fuzzy) {
    return or(
      like(studies.patientNameSearch, `${pattern}%`),
      like(studies.patientNameSearch, `% ${pattern}%`),
      like(studies.patientNameSearch, `%=${pattern}%`),
    );
  }
  return nameGroupLike(studies.patientNameSearch, match.wildcard ? pattern : escapeLike(key));
}

function dateCondition(range: DateRange): SQL | undefined {
  return and(
    range.from !== undefined ? gte(studies.studyDate, range.from) : undefined,
    range.to !== undefined ? lte(studies.studyDate, range.to) : undefined,
  );
}

/**
 * QIDO-RS study search over the caller's group: studies holding at least one current instance that
 * match every filter, newest received first, from `offset`. Returns one row more than `limit` when
 * there are more. Readers and admins may search.
 */
export async function searchStudies({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: SearchStudiesInput;
}): Promise<{ matches: StudyMatch[]; more: boolean }> {
  const actor = requireUser(ctx.actor);
  const f = input.filters;
  const rows = await ctx.db
    .select(studySummaryColumns)
    .from(studies)
    .innerJoin(facilities, eq(facilities.id, studies.facilityId))
    .where(
      and(
        eq(studies.groupId, actor.groupId),
        gt(studies.instanceCount, 0),
        f.patientName ? patientNameCondition(f.patientName, input.fuzzy) : undefined,
        f.patientId ? matchText(studies.patientId, f.patientId) : undefined,
        f.studyInstanceUids ? inArray(studies.studyInstanceUid, f.studyInstanceUids) : undefined,
        f.studyDate ? dateCondition(f.studyDate) : undefined,
        f.modalitiesInStudy ? arrayOverlaps(studies.modalities, f.modalitiesInStudy) : undefined,
        f.accessionNumber ? matchText(studies.accessionNumber, f.accessionNumber) : undefined,
        f.studyDescription
          ? matchText(studies.description, f.studyDescription, { caseInsensitive: true })
          : undefined,
        f.referringPhysicianName
          ? matchText(studies.referringPhysician, f.referringPhysicianName, { caseInsensitive: true })
          : undefined,
      ),
    )
    .orderBy(desc(studies.lastReceivedAt), desc(studies.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  const { page, more } = await pageWithMetadata(ctx.db, actor.groupId, 'study', rows, input);
  return { matches: page.map(({ row, metadata }) => ({ study: row, metadata })), more };
}
