import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../edge/context.js';
import type { AppEnv } from '../../edge/types.js';
import type { StudyInstance } from '../../services/get-study.js';
import {
  getStudyOverview,
  INSTANCE_PAGE_DEFAULT,
  INSTANCE_PAGE_MAX,
  type SeriesInstancePage,
  type StudyOverview,
} from '../../services/get-study-overview.js';
import { Moment } from '../components/moment.js';
import { StackTable } from '../components/stack-table.js';
import { mayHaveImage, Thumbnail, thumbnailSrc, viewerHref } from '../components/study-media.js';
import {
  formatBytes,
  formatPatientName,
  studyDateIso,
  worklistStatus,
} from '../components/worklist-format.js';
import { Layout } from '../layout.js';
import { type PageUser, pageUser, requirePage } from '../page-context.js';

/** Beyond any series (a million pages of instances): a page number past it is not one. */
const MAX_PAGE = 1_000_000;

/** What the API accepts as a Study Instance UID in a path. */
const STUDY_UID_RE = /^[0-9A-Za-z.-]{1,64}$/;

interface TimelineEntry {
  at: Date;
  text: string;
  /** Orders entries at the same moment: received before stored before the rest. */
  rank: number;
}

/** The study's life from the first instance received at a gateway to the latest one stored in the cloud. */
function timelineOf({ study, events }: StudyOverview): TimelineEntry[] {
  const out: TimelineEntry[] = [
    { at: study.firstReceivedAt, text: 'First instance received at the gateway', rank: 0 },
    { at: study.firstStoredAt, text: 'First instance stored in the cloud', rank: 1 },
  ];
  if (study.lastReceivedAt.getTime() !== study.firstReceivedAt.getTime())
    out.push({ at: study.lastReceivedAt, text: 'Latest instance received at the gateway', rank: 0 });
  if (study.lastStoredAt.getTime() !== study.firstStoredAt.getTime())
    out.push({ at: study.lastStoredAt, text: 'Latest instance stored in the cloud', rank: 1 });
  for (const e of events) {
    const d = e.detail;
    const text =
      e.kind === 'created'
        ? 'Study added to the worklist'
        : e.kind === 'completed'
          ? 'Marked complete: no new instances for the stable period'
          : e.kind === 'reopened'
            ? 'Reopened: a new instance arrived after it was complete'
            : e.kind === 'new_version'
              ? `Instance ${typeof d.sopInstanceUid === 'string' ? d.sopInstanceUid : ''} replaced: version ${typeof d.version === 'number' ? d.version : '?'} is current`
              : e.kind;
    out.push({ at: e.at, text, rank: 2 });
  }
  return out.sort((a, b) => a.at.getTime() - b.at.getTime() || a.rank - b.rank);
}

function InstanceRow({ i }: { i: StudyInstance }) {
  return (
    <tr>
      <td data-label="SOP Instance UID">
        <code>{i.sopInstanceUid}</code>
      </td>
      <td data-label="Instance number">{i.instanceNumber ?? ''}</td>
      <td data-label="Versions">
        <ul class="versions">
          {i.versions.map((v) => (
            <li>
              Version {v.version}
              {v.current ? (
                <>
                  {' '}
                  <strong class="badge complete">current</strong>
                </>
              ) : null}
              {' · received '}
              <Moment at={v.receivedAt} />
              {' · stored '}
              <Moment at={v.storedAt} />
              {` · ${formatBytes(v.plainBytes)}`}
            </li>
          ))}
        </ul>
      </td>
    </tr>
  );
}

/** Which page of which series' instances the study page shows, from its query. */
interface InstancePaging {
  seriesUid: string | undefined;
  page: number;
  limit: number;
}

function readPaging(c: Context<AppEnv>): InstancePaging {
  const seriesUid = c.req.query('series');
  const page = Number(c.req.query('page') ?? '1');
  const limit = Number(c.req.query('limit') ?? INSTANCE_PAGE_DEFAULT);
  return {
    seriesUid: seriesUid && STUDY_UID_RE.test(seriesUid) ? seriesUid : undefined,
    // Out-of-range values fall back to the defaults: a hand-edited link still shows the study.
    page: Number.isInteger(page) && page >= 1 && page <= MAX_PAGE ? page : 1,
    limit:
      Number.isInteger(limit) && limit >= 1 && limit <= INSTANCE_PAGE_MAX ? limit : INSTANCE_PAGE_DEFAULT,
  };
}

/** The study page showing page `page` of one series' instances (that series opened, scrolled to). */
function seriesPageHref(studyUid: string, seriesUid: string, page: number, limit: number): string {
  const params = new URLSearchParams({ series: seriesUid, page: String(page) });
  if (limit !== INSTANCE_PAGE_DEFAULT) params.set('limit', String(limit));
  return `/studies/${encodeURIComponent(studyUid)}?${params.toString()}#${seriesAnchor(seriesUid)}`;
}

function seriesAnchor(seriesUid: string): string {
  return `series-${seriesUid}`;
}

function SeriesCard({
  studyUid,
  s,
  limit,
  open,
}: {
  studyUid: string;
  s: SeriesInstancePage;
  limit: number;
  open: boolean;
}) {
  const heading = [
    s.modality ?? 'Unknown modality',
    s.seriesNumber ? `series ${s.seriesNumber}` : null,
    s.description || null,
    `${s.instanceCount} ${s.instanceCount === 1 ? 'image' : 'images'}`,
  ]
    .filter((p) => p !== null)
    .join(' · ');
  const anchor = seriesAnchor(s.seriesInstanceUid);
  const page = Math.floor(s.offset / limit) + 1;
  const first = s.offset + 1;
  const last = s.offset + s.instances.length;
  const hasNext = last < s.total;
  const label = `${s.modality ?? 'Unknown modality'} series${s.seriesNumber ? ` ${s.seriesNumber}` : ''}`;
  return (
    <article class="series card" id={anchor} aria-labelledby={`${anchor}-h`}>
      <Thumbnail
        src={thumbnailSrc(studyUid, s.seriesInstanceUid)}
        alt={`Thumbnail of ${label}`}
        size={96}
        hasImage={mayHaveImage([s.modality])}
      />
      <div class="series-body">
        <h3 id={`${anchor}-h`}>{heading}</h3>
        <p class="muted">
          Series Instance UID <code>{s.seriesInstanceUid}</code>
        </p>
        <details open={open}>
          <summary>Instances ({s.total})</summary>
          {s.instances.length === 0 ? (
            <p>
              No instances on this page.{' '}
              <a href={seriesPageHref(studyUid, s.seriesInstanceUid, 1, limit)}>First page</a>
            </p>
          ) : (
            /* No scrolling wrapper: UIDs wrap (worklist.css), so the table fits at 390 px. */
            <StackTable
              label={`Instances of ${heading}`}
              columns={['SOP Instance UID', 'Instance number', 'Versions']}
              class="instances"
              scrolls={false}
            >
              {s.instances.map((i) => (
                <InstanceRow i={i} />
              ))}
            </StackTable>
          )}
          {page > 1 || hasNext ? (
            <nav class="pager" aria-label={`Pages of instances of ${label}`}>
              {s.instances.length > 0 ? (
                <span>
                  Instances {first}–{last} of {s.total}
                </span>
              ) : null}
              {page > 1 ? (
                <a href={seriesPageHref(studyUid, s.seriesInstanceUid, page - 1, limit)} rel="prev">
                  Previous page
                </a>
              ) : null}
              {hasNext ? (
                <a href={seriesPageHref(studyUid, s.seriesInstanceUid, page + 1, limit)} rel="next">
                  Next page
                </a>
              ) : null}
            </nav>
          ) : null}
        </details>
      </div>
    </article>
  );
}

function StudyPage({
  user,
  detail,
  paging,
  publicUrl,
}: {
  user: PageUser;
  detail: StudyOverview;
  paging: InstancePaging;
  publicUrl: string;
}) {
  const { study, series } = detail;
  const uid = study.studyInstanceUid;
  const status = worklistStatus(study);
  const date = studyDateIso(study.studyDate);
  const dicomweb = `${publicUrl.replace(/\/+$/, '')}/dicomweb/studies/${uid}`;
  return (
    <Layout
      title={`Study ${study.description || 'without description'}`}
      user={user}
      nav="worklist"
      styles={['worklist.css']}
    >
      <p>
        <a href="/worklist">Back to the worklist</a>
      </p>
      <dl class="facts">
        <dt>Patient</dt>
        <dd>{formatPatientName(study.patientName)}</dd>
        <dt>Patient ID</dt>
        <dd>{study.patientId ?? ''}</dd>
        <dt>Study date</dt>
        <dd>{date ? <time datetime={date}>{date}</time> : (study.studyDate ?? '')}</dd>
        <dt>Accession number</dt>
        <dd>{study.accessionNumber ?? ''}</dd>
        <dt>Modality</dt>
        <dd>{study.modalities.join(', ')}</dd>
        <dt>Facility</dt>
        <dd>{study.facilityName}</dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge ${status}`}>{status}</span>
          {status === 'updated' ? <span class="muted"> (now {study.status})</span> : null}
        </dd>
        <dt>Images</dt>
        <dd>{study.instanceCount}</dd>
        <dt>Study Instance UID</dt>
        <dd>
          <code>{uid}</code>
        </dd>
      </dl>
      <div class="study-actions">
        <a class="button" href={viewerHref(uid)}>
          Open in viewer
        </a>
        <a class="button secondary" href={`/api/v1/studies/${encodeURIComponent(uid)}/download`} download>
          Download zip
        </a>
        <div class="copy-field">
          <label for="dicomweb-url">DICOMweb URL for a viewer</label>
          <div class="copy-row">
            <input id="dicomweb-url" type="text" readonly value={dicomweb} />
            <button type="button" class="secondary" data-copy="dicomweb-url">
              Copy DICOMweb URL
            </button>
          </div>
        </div>
      </div>

      <section aria-labelledby="series-heading">
        <h2 id="series-heading">Series</h2>
        {series.length === 0 ? (
          <p>No series stored.</p>
        ) : (
          series.map((s) => (
            <SeriesCard
              studyUid={uid}
              s={s}
              limit={paging.limit}
              open={s.seriesInstanceUid === paging.seriesUid}
            />
          ))
        )}
      </section>

      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        <ol class="timeline">
          {timelineOf(detail).map((e) => (
            <li>
              <Moment at={e.at} /> — {e.text}
            </li>
          ))}
        </ol>
      </section>
    </Layout>
  );
}

/**
 * A study: its facts, "Open in viewer", its series as cards with a thumbnail and their instances (with
 * their versions) paged behind a disclosure, and its timeline. Readers and admins of its group.
 */
export function registerStudy(web: Hono<AppEnv>): void {
  web.get('/studies/:studyUid', requirePage(), async (c) => {
    const user = pageUser(c);
    const studyUid = c.req.param('studyUid');
    const paging = readPaging(c);
    let detail: StudyOverview | undefined;
    if (STUDY_UID_RE.test(studyUid)) {
      try {
        detail = await getStudyOverview({
          ctx: ctxOf(c),
          input: {
            studyUid,
            seriesUid: paging.seriesUid,
            offset: (paging.page - 1) * paging.limit,
            limit: paging.limit,
          },
        });
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'resource.not_found') throw err;
      }
    }
    if (!detail) {
      c.status(404);
      return c.html(
        <Layout title="No such study" user={user} nav="worklist" styles={['worklist.css']}>
          <p>
            Your group has no study with the UID <code>{studyUid}</code>. Check the link, or find the study in
            the worklist.
          </p>
          <p>
            <a href="/worklist">Back to the worklist</a>
          </p>
        </Layout>,
      );
    }
    return c.html(
      <StudyPage user={user} detail={detail} paging={paging} publicUrl={c.get('deps').publicUrl} />,
    );
  });
}
