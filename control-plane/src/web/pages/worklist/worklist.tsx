import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { listFacilities } from '../../../services/list-facilities.js';
import {
  type ListStudiesInput,
  listStudies,
  STUDY_PAGE_DEFAULT,
  STUDY_PAGE_MAX,
  type StudySort,
  type StudySummary,
  studyListStatuses,
  studySorts,
} from '../../../services/list-studies.js';
import { DayInput } from '../../components/day-input.js';
import { FieldError, fieldAria, Labelled } from '../../components/field.js';
import { Moment } from '../../components/moment.js';
import { Pager } from '../../components/pager.js';
import { StackTable } from '../../components/stack-table.js';
import { mayHaveImage, Thumbnail, thumbnailSrc, viewerHref } from '../../components/study-media.js';
import { formatPatientName, studyDateIso, worklistStatus } from '../../components/worklist-format.js';
import { Layout } from '../../layout.js';
import { pageUser, requirePage } from '../../page-context.js';

const SORT_LABELS: Record<StudySort, string> = {
  receivedAt: 'Received time, newest first',
  studyDate: 'Study date, newest first',
  patientName: 'Patient name, A to Z',
};

const COMMON_MODALITIES = ['CR', 'CT', 'DX', 'MG', 'MR', 'NM', 'OT', 'PT', 'RF', 'SR', 'US', 'XA'];

/** The worklist form's fields as typed (echoed back into the form and the paging links). */
interface WorklistQuery {
  q: string;
  status: string;
  modality: string;
  facility: string;
  from: string;
  to: string;
  sort: string;
  limit: string;
}

type FieldErrors = Partial<Record<keyof WorklistQuery | 'cursor', string>>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readQuery(c: Context<AppEnv>): WorklistQuery {
  const get = (k: string) => (c.req.query(k) ?? '').trim();
  return {
    q: get('q'),
    status: get('status'),
    modality: get('modality').toUpperCase(),
    facility: get('facility'),
    from: get('from'),
    to: get('to'),
    sort: get('sort'),
    limit: get('limit'),
  };
}

/** A date field (YYYY-MM-DD from the date picker, or YYYYMMDD) as YYYYMMDD; the API's rules. */
function parseDate(raw: string): string | { error: string } {
  if (!/^\d{4}-?\d{2}-?\d{2}$/.test(raw)) return { error: 'Enter a date as YYYY-MM-DD.' };
  const s = raw.replaceAll('-', '');
  const m = Number(s.slice(4, 6));
  const d = Number(s.slice(6, 8));
  if (m < 1 || m > 12 || d < 1 || d > 31) return { error: `${raw} is not a calendar date.` };
  return s;
}

/** The form as service input, with a plain-language reason for each field it cannot use. */
function toInput(
  q: WorklistQuery,
  facilityIds: Set<string>,
): { input: ListStudiesInput; errors: FieldErrors } {
  const input: ListStudiesInput = {};
  const errors: FieldErrors = {};
  if (q.q !== '') {
    if (q.q.length > 128) errors.q = 'Search with at most 128 characters.';
    else input.q = q.q;
  }
  if (q.status !== '') {
    if ((studyListStatuses as readonly string[]).includes(q.status))
      input.status = q.status as ListStudiesInput['status'];
    else errors.status = 'Choose a status from the list.';
  }
  if (q.modality !== '') {
    if (/^[A-Z0-9_]{1,16}$/.test(q.modality)) input.modality = q.modality;
    else errors.modality = 'A modality is a short code such as CT or MR (letters and digits, at most 16).';
  }
  if (q.facility !== '') {
    if (UUID_RE.test(q.facility) && facilityIds.has(q.facility.toLowerCase()))
      input.facilityId = q.facility.toLowerCase();
    else errors.facility = 'That facility is not one of your group’s; choose one from the list.';
  }
  for (const [field, key] of [
    ['from', 'dateFrom'],
    ['to', 'dateTo'],
  ] as const) {
    if (q[field] === '') continue;
    const d = parseDate(q[field]);
    if (typeof d === 'string') input[key] = d;
    else errors[field] = d.error;
  }
  if (input.dateFrom && input.dateTo && input.dateFrom > input.dateTo)
    errors.to = 'The “To” date is before the “From” date.';
  if (q.sort !== '') {
    if ((studySorts as readonly string[]).includes(q.sort)) input.sort = q.sort as StudySort;
    else errors.sort = 'Choose a sort order from the list.';
  }
  if (q.limit !== '') {
    const n = Number(q.limit);
    if (Number.isInteger(n) && n >= 1 && n <= STUDY_PAGE_MAX) input.limit = n;
    else errors.limit = `Show between 1 and ${STUDY_PAGE_MAX} studies per page.`;
  }
  return { input, errors };
}

/** The worklist URL for these filters (empty ones left out), optionally at a cursor. */
function worklistHref(q: WorklistQuery, cursor?: string): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== '') params.set(k, v);
  if (cursor) params.set('cursor', cursor);
  const s = params.toString();
  return s ? `/worklist?${s}` : '/worklist';
}

function Filters({
  q,
  errors,
  facilities,
}: {
  q: WorklistQuery;
  errors: FieldErrors;
  facilities: { id: string; name: string }[];
}) {
  return (
    <search aria-label="Find studies">
      <form method="get" action="/worklist" class="filters">
        <div>
          <Labelled id="wl-q" label="Patient name or ID" error={errors.q}>
            <input
              id="wl-q"
              name="q"
              type="search"
              value={q.q}
              maxlength={128}
              autocomplete="off"
              {...fieldAria('wl-q', errors.q)}
            />
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-status" label="Status" error={errors.status}>
            <select id="wl-status" name="status" {...fieldAria('wl-status', errors.status)}>
              <option value="" selected={q.status === ''}>
                All
              </option>
              {studyListStatuses.map((s) => (
                <option value={s} selected={q.status === s}>
                  {s[0]?.toUpperCase() + s.slice(1)}
                </option>
              ))}
            </select>
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-modality" label="Modality" error={errors.modality}>
            <input
              id="wl-modality"
              name="modality"
              type="text"
              list="wl-modalities"
              value={q.modality}
              maxlength={16}
              autocomplete="off"
              {...fieldAria('wl-modality', errors.modality)}
            />
            <datalist id="wl-modalities">
              {COMMON_MODALITIES.map((m) => (
                <option value={m} />
              ))}
            </datalist>
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-facility" label="Facility" error={errors.facility}>
            <select id="wl-facility" name="facility" {...fieldAria('wl-facility', errors.facility)}>
              <option value="" selected={q.facility === ''}>
                All facilities
              </option>
              {facilities.map((f) => (
                <option value={f.id} selected={q.facility.toLowerCase() === f.id}>
                  {f.name}
                </option>
              ))}
            </select>
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-from" label="From" error={errors.from}>
            <DayInput id="wl-from" name="from" value={q.from} error={errors.from} />
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-to" label="To" error={errors.to}>
            <DayInput id="wl-to" name="to" value={q.to} error={errors.to} />
          </Labelled>
        </div>
        <div>
          <Labelled id="wl-sort" label="Sort" error={errors.sort}>
            <select id="wl-sort" name="sort" {...fieldAria('wl-sort', errors.sort)}>
              {studySorts.map((s) => (
                <option value={s} selected={(q.sort || 'receivedAt') === s}>
                  {SORT_LABELS[s]}
                </option>
              ))}
            </select>
          </Labelled>
        </div>
        {q.limit !== '' ? <input type="hidden" name="limit" value={q.limit} /> : null}
        <div class="filters-submit">
          <button type="submit">Search</button>
        </div>
        <FieldError id="wl-limit-error" message={errors.limit} />
      </form>
    </search>
  );
}

function StudyRow({ s }: { s: StudySummary }) {
  const status = worklistStatus(s);
  const date = studyDateIso(s.studyDate);
  return (
    <tr data-study-uid={s.studyInstanceUid}>
      <td class="thumb-cell">
        <Thumbnail
          src={thumbnailSrc(s.studyInstanceUid)}
          alt="Thumbnail of the study"
          size={48}
          hasImage={mayHaveImage(s.modalities)}
        />
      </td>
      <td data-label="Patient">
        <a href={`/studies/${encodeURIComponent(s.studyInstanceUid)}`}>{formatPatientName(s.patientName)}</a>
      </td>
      <td data-label="Patient ID">{s.patientId ?? ''}</td>
      <td data-label="Study date">{date ? <time datetime={date}>{date}</time> : (s.studyDate ?? '')}</td>
      <td data-label="Modality">{s.modalities.join(', ')}</td>
      <td data-label="Description">{s.description ?? ''}</td>
      <td data-label="Facility">{s.facilityName}</td>
      <td data-label="Images">{s.instanceCount}</td>
      <td data-label="Status">
        <span class={`badge ${status}`}>{status}</span>
      </td>
      <td data-label="Received">
        <Moment at={s.lastReceivedAt} />
      </td>
      <td data-label="Viewer">
        <a
          href={viewerHref(s.studyInstanceUid)}
          aria-label={`Open in viewer: ${formatPatientName(s.patientName)}${date ? `, ${date}` : ''}`}
        >
          Open in viewer
        </a>
      </td>
    </tr>
  );
}

function StudyTable({ rows }: { rows: StudySummary[] }) {
  return (
    <StackTable
      label="Studies"
      columns={[
        'Image',
        'Patient',
        'Patient ID',
        'Study date',
        'Modality',
        'Description',
        'Facility',
        'Images',
        'Status',
        'Received',
        'Viewer',
      ]}
      class="studies"
    >
      {rows.map((s) => (
        <StudyRow s={s} />
      ))}
    </StackTable>
  );
}

/**
 * The worklist: the group's studies, searched, filtered and sorted, one keyset page at a time (the
 * same listStudies the API uses). Readers and admins.
 */
export function registerWorklist(web: Hono<AppEnv>): void {
  web.get('/worklist', requirePage(), async (c) => {
    const user = pageUser(c);
    const ctx = ctxOf(c);
    const facilities = await listFacilities({ ctx });
    const q = readQuery(c);
    const { input, errors } = toInput(q, new Set(facilities.map((f) => f.id)));
    const cursor = (c.req.query('cursor') ?? '').trim();

    let rows: StudySummary[] = [];
    let nextCursor: string | null = null;
    const hasErrors = Object.keys(errors).length > 0;
    if (!hasErrors) {
      try {
        ({ studies: rows, nextCursor } = await listStudies({
          ctx,
          input: { ...input, ...(cursor !== '' ? { cursor } : {}) },
        }));
      } catch (err) {
        // A stale or hand-edited cursor: say so, and offer the first page.
        if (
          !(err instanceof FerryError) ||
          err.code !== 'request.invalid' ||
          !err.message.startsWith('cursor')
        )
          throw err;
        errors.cursor = 'This page link is out of date (the sort changed). Start again from the first page.';
      }
    }
    const failed = Object.keys(errors).length > 0;
    if (failed) c.status(400);
    const filtered = [q.q, q.status, q.modality, q.facility, q.from, q.to].some((v) => v !== '');
    return c.html(
      <Layout title="Worklist" user={user} nav="worklist" styles={['worklist.css']} scripts={['worklist.js']}>
        <Filters q={q} errors={errors} facilities={facilities.map((f) => ({ id: f.id, name: f.name }))} />
        {failed ? (
          <div class="notice bad" role="alert">
            <p>
              {errors.cursor ??
                'Some filters could not be used; the reason is under each one. Correct them and search again.'}
            </p>
            {errors.cursor ? (
              <p>
                <a href={worklistHref(q)}>First page</a>
              </p>
            ) : null}
          </div>
        ) : (
          <>
            {cursor === '' ? (
              // worklist.client.js fills this in when the first page changes (new studies, new images, a status).
              <div id="worklist-changed" class="notice" role="status" hidden>
                <span>New or changed studies.</span>{' '}
                <button type="button" class="secondary" id="worklist-show-changes">
                  Show them
                </button>
              </div>
            ) : null}
            <div id="worklist-results" data-live={cursor === '' ? 'true' : undefined}>
              {rows.length === 0 ? (
                <p role="status">
                  {cursor !== '' ? 'No more studies.' : 'No studies match.'}
                  {filtered && cursor === '' ? ' Try fewer filters, or the start of a name.' : ''}
                </p>
              ) : (
                <StudyTable rows={rows} />
              )}
              <Pager
                first={cursor !== '' ? worklistHref(q) : undefined}
                next={nextCursor ? worklistHref(q, nextCursor) : undefined}
              />
              {rows.length > 0 ? (
                <p class="muted">
                  Showing {rows.length} {rows.length === 1 ? 'study' : 'studies'} (
                  {input.limit ?? STUDY_PAGE_DEFAULT} per page).
                </p>
              ) : null}
            </div>
          </>
        )}
      </Layout>,
    );
  });
}
