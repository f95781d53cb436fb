/**
 * QIDO-RS query parameters (PS3.18 8.3.4) into typed filters. Pure: the search services turn the
 * filters into parameterised SQL, so nothing here reaches the database as text.
 *
 * - Attributes by keyword (`PatientName`) or tag (`00100010`).
 * - Single value matching, wildcards `*` and `?` (kept as `WildcardValue`, escaped later), UID lists
 *   (comma or backslash separated, or the key repeated), date ranges `A-B`, `A-`, `-B`.
 * - An empty value or a lone `*` is universal matching: no filter.
 * - Keys this server does not match on at a level are ignored and reported (Warning: 299), as PS3.18 asks.
 */
import { FerryError } from '@ferry/shared';
import type { InstanceFilters } from '../../services/search-instances.js';
import type { SeriesFilters } from '../../services/search-series.js';
import type { DateRange, StudyFilters, WildcardValue } from '../../services/search-studies.js';
import { TAGS, type Tag, tagOf } from './tags.js';

export type QidoLevel = 'study' | 'series' | 'instance';

export type FiltersOf<L extends QidoLevel> = L extends 'study'
  ? StudyFilters
  : L extends 'series'
    ? SeriesFilters
    : InstanceFilters;

export interface QidoQuery<L extends QidoLevel> {
  filters: FiltersOf<L>;
  /** Extra attributes asked for with `includefield`: 'all', or tags. */
  include: 'all' | Set<Tag>;
  limit: number;
  offset: number;
  /** `fuzzymatching=true`: a person name also matches at the start of any of its words. */
  fuzzy: boolean;
  /** Keys given but not matched on here, for the Warning header. */
  ignored: string[];
}

export const QIDO_LIMITS: Record<QidoLevel, { default: number; max: number }> = {
  study: { default: 100, max: 1000 },
  series: { default: 1000, max: 5000 },
  instance: { default: 1000, max: 5000 },
};

const MAX_VALUE_LENGTH = 256;
const MAX_LIST = 500;
const UID_RE = /^[0-9A-Za-z.-]{1,64}$/;
const CODE_RE = /^[0-9A-Za-z_ ]{1,16}$/;
const NUMBER_RE = /^-?\d{1,9}$/;

function invalid(message: string): FerryError {
  return new FerryError('request.invalid', message);
}

function single(key: string, values: string[]): string {
  const distinct = [...new Set(values)];
  if (distinct.length > 1) throw invalid(`${key} is given ${distinct.length} times; give one value`);
  const v = distinct[0] ?? '';
  if (v.length > MAX_VALUE_LENGTH) throw invalid(`${key} is longer than ${MAX_VALUE_LENGTH} characters`);
  return v;
}

/** Undefined for universal matching (empty, or only `*`). */
function wildcard(key: string, values: string[]): WildcardValue | undefined {
  const v = single(key, values).trim();
  if (v === '' || /^\*+$/.test(v)) return undefined;
  return { value: v, wildcard: /[*?]/.test(v) };
}

function list(key: string, values: string[], check?: RegExp): string[] | undefined {
  const items = values
    .flatMap((v) => v.split(/[,\\]/))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (items.length === 0) return undefined;
  if (items.length > MAX_LIST) throw invalid(`${key} lists more than ${MAX_LIST} values`);
  for (const item of items) {
    if (check && !check.test(item)) throw invalid(`${key} value "${item.slice(0, 80)}" is not valid here`);
    if (!check && item.length > MAX_VALUE_LENGTH) throw invalid(`${key} value is too long`);
  }
  return [...new Set(items)];
}

function dateOf(key: string, s: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(s) ?? /^(\d{4})\.(\d{2})\.(\d{2})$/.exec(s);
  const [, y, mo, d] = m ?? [];
  const month = Number(mo);
  const day = Number(d);
  if (!y || month < 1 || month > 12 || day < 1 || day > 31) {
    throw invalid(`${key} "${s.slice(0, 40)}" is not a date (YYYYMMDD or YYYY-MM-DD)`);
  }
  return `${y}${mo}${d}`;
}

/** A DICOM DA value or range (`A-B`, `A-`, `-B`); ISO dates (YYYY-MM-DD) are taken too. */
export function parseDateRange(key: string, raw: string): DateRange | undefined {
  const v = raw.trim();
  if (v === '' || v === '-') return undefined;
  const iso = '\\d{4}-\\d{2}-\\d{2}';
  const bound = `(\\d{8}|${iso})?`;
  const one = new RegExp(`^(\\d{8}|${iso}|\\d{4}\\.\\d{2}\\.\\d{2})$`).exec(v);
  if (one?.[1]) {
    const day = dateOf(key, one[1]);
    return { from: day, to: day };
  }
  const range = new RegExp(`^${bound}-${bound}$`).exec(v);
  if (!range) throw invalid(`${key} "${v.slice(0, 40)}" is not a date or date range (A-B, A-, -B)`);
  const out: DateRange = {};
  if (range[1]) out.from = dateOf(key, range[1]);
  if (range[2]) out.to = dateOf(key, range[2]);
  if (out.from && out.to && out.from > out.to) throw invalid(`${key} range ends before it starts`);
  return out;
}

function nonNegativeInt(key: string, raw: string): number {
  if (!/^\d{1,9}$/.test(raw.trim())) throw invalid(`${key} must be a non-negative integer`);
  return Number(raw.trim());
}

type Apply<L extends QidoLevel> = (filters: FiltersOf<L>, key: string, values: string[]) => void;

const STUDY_KEYS: Record<Tag, Apply<'study'>> = {
  [TAGS.PatientName]: (f, k, v) => {
    f.patientName = wildcard(k, v);
  },
  [TAGS.PatientID]: (f, k, v) => {
    f.patientId = wildcard(k, v);
  },
  [TAGS.StudyInstanceUID]: (f, k, v) => {
    f.studyInstanceUids = list(k, v, UID_RE);
  },
  [TAGS.StudyDate]: (f, k, v) => {
    f.studyDate = parseDateRange(k, single(k, v));
  },
  [TAGS.ModalitiesInStudy]: (f, k, v) => {
    f.modalitiesInStudy = list(k, v, CODE_RE);
  },
  [TAGS.AccessionNumber]: (f, k, v) => {
    f.accessionNumber = wildcard(k, v);
  },
  [TAGS.StudyDescription]: (f, k, v) => {
    f.studyDescription = wildcard(k, v);
  },
  [TAGS.ReferringPhysicianName]: (f, k, v) => {
    f.referringPhysicianName = wildcard(k, v);
  },
};

const SERIES_KEYS: Record<Tag, Apply<'series'>> = {
  [TAGS.SeriesInstanceUID]: (f, k, v) => {
    f.seriesInstanceUids = list(k, v, UID_RE);
  },
  [TAGS.Modality]: (f, k, v) => {
    f.modalities = list(k, v, CODE_RE);
  },
  [TAGS.SeriesNumber]: (f, k, v) => {
    const n = single(k, v).trim();
    if (n === '') return;
    if (!NUMBER_RE.test(n)) throw invalid(`${k} must be an integer`);
    f.seriesNumber = String(Number(n));
  },
  [TAGS.SeriesDescription]: (f, k, v) => {
    f.seriesDescription = wildcard(k, v);
  },
};

const INSTANCE_KEYS: Record<Tag, Apply<'instance'>> = {
  ...SERIES_KEYS,
  [TAGS.SOPInstanceUID]: (f, k, v) => {
    f.sopInstanceUids = list(k, v, UID_RE);
  },
  [TAGS.SOPClassUID]: (f, k, v) => {
    f.sopClassUids = list(k, v, UID_RE);
  },
  [TAGS.InstanceNumber]: (f, k, v) => {
    const n = single(k, v).trim();
    if (n === '') return;
    if (!NUMBER_RE.test(n)) throw invalid(`${k} must be an integer`);
    f.instanceNumber = Number(n);
  },
};

const KEYS_BY_LEVEL: { [L in QidoLevel]: Record<Tag, Apply<L>> } = {
  study: STUDY_KEYS,
  series: SERIES_KEYS,
  instance: INSTANCE_KEYS,
};

/** Parses the query string of a QIDO-RS search at `level`. Throws request.invalid on malformed values. */
export function parseQidoQuery<L extends QidoLevel>(params: URLSearchParams, level: L): QidoQuery<L> {
  const filters = {} as FiltersOf<L>;
  const keys = KEYS_BY_LEVEL[level] as Record<Tag, Apply<L>>;
  const limits = QIDO_LIMITS[level];
  const ignored: string[] = [];
  let include: 'all' | Set<Tag> = new Set();
  let limit = limits.default;
  let offset = 0;
  let fuzzy = false;
  const byTag = new Map<Tag, { key: string; values: string[] }>();
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    switch (key.toLowerCase()) {
      case 'limit': {
        const n = nonNegativeInt(key, single(key, values));
        limit = n === 0 ? limits.default : Math.min(n, limits.max);
        continue;
      }
      case 'offset':
        offset = nonNegativeInt(key, single(key, values));
        continue;
      case 'fuzzymatching':
        fuzzy = single(key, values).trim().toLowerCase() === 'true';
        continue;
      case 'includefield': {
        for (const field of values.flatMap((v) => v.split(',')).map((v) => v.trim())) {
          if (field === '') continue;
          if (field.toLowerCase() === 'all') include = 'all';
          else {
            const tag = tagOf(field);
            if (!tag) ignored.push(`includefield=${field.slice(0, 64)}`);
            else if (include !== 'all') include.add(tag);
          }
        }
        continue;
      }
    }
    const tag = tagOf(key);
    if (tag === undefined || !keys[tag]) {
      ignored.push(key.slice(0, 64));
      continue;
    }
    // A keyword and its tag name the same attribute: their values go together.
    const seen = byTag.get(tag);
    if (seen) seen.values.push(...values);
    else byTag.set(tag, { key, values: [...values] });
  }
  for (const [tag, { key, values }] of byTag) keys[tag]?.(filters, key, values);
  return { filters, include, limit, offset, fuzzy, ignored };
}

/** The Warning header value for ignored keys (PS3.18 8.3.4.3), or undefined. */
export function ignoredKeysWarning(ignored: string[]): string | undefined {
  if (ignored.length === 0) return undefined;
  const names = ignored.map((k) => k.replace(/[^\w.=-]/g, '_')).join(', ');
  return `299 ferry "The following query keys were ignored: ${names}"`;
}
