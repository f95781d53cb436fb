import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import { BACKENDS, createTestApp, type TestApp } from '../../../../../testkit/control-plane/harness.js';
import { newTestUid } from '../../../../../testkit/control-plane/seal-object.js';
import { seedStoredInstance } from '../../../../../testkit/control-plane/seed-stored-study.js';
import { seedWorklist, type Worklist } from '../../../../../testkit/control-plane/study-fixtures.js';
import { mayHaveImage, Thumbnail, thumbnailSrc, viewerHref } from '../../components/study-media.js';
import { formatBytes, formatPatientName } from '../../components/worklist-format.js';

/** The data-study-uid of each row, in page order. */
function rowUids(html: string): string[] {
  return [...html.matchAll(/<tr data-study-uid="([^"]+)"/g)].map((m) => m[1] ?? '');
}

/** The href of the link with this exact text, HTML entities in it decoded. */
function linkHref(html: string, text: string): string | undefined {
  const m = new RegExp(`<a href="([^"]+)"[^>]*>${text}</a>`).exec(html);
  return m?.[1]?.replaceAll('&amp;', '&');
}

describe('worklist formatting', () => {
  it('formats DICOM person names for people', () => {
    expect(formatPatientName('DOE^JOHN')).toBe('DOE, JOHN');
    expect(formatPatientName('DOE^JOHN^PAUL^DR')).toBe('DOE, DR JOHN PAUL');
    expect(formatPatientName('DOE')).toBe('DOE');
    expect(formatPatientName('^JOHN')).toBe('JOHN');
    expect(formatPatientName('YAMADA^TARO=山田^太郎')).toBe('YAMADA, TARO');
    expect(formatPatientName('')).toBe('(no name)');
    expect(formatPatientName(null)).toBe('(no name)');
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(12_600)).toBe('12 KB');
    expect(formatBytes(1536)).toBe('1.5 KB');
  });

  it('asks for thumbnails only where there can be pixels, and links the viewer to the study', () => {
    expect(mayHaveImage(['CT'])).toBe(true);
    expect(mayHaveImage(['SR'])).toBe(false);
    expect(mayHaveImage(['SR', 'KO', 'PR'])).toBe(false);
    expect(mayHaveImage(['SR', 'MR'])).toBe(true);
    // Unknown or missing: the server decides, and a failure shows the "No image" box.
    expect(mayHaveImage([null])).toBe(true);
    expect(mayHaveImage([])).toBe(true);
    expect(viewerHref('1.2.3')).toBe('/viewer/viewer?StudyInstanceUIDs=1.2.3');
    expect(viewerHref('1.2 3&x')).toBe('/viewer/viewer?StudyInstanceUIDs=1.2%203%26x');
    expect(thumbnailSrc('1.2', '1.2.9')).toBe('/dicomweb/studies/1.2/series/1.2.9/thumbnail');
    expect(String(Thumbnail({ src: '/x', alt: 'Thumbnail of SR series 1', size: 96, hasImage: false }))).toBe(
      '<span class="thumb thumb-96 no-image">No image</span>',
    );
  });
});

describe.each(BACKENDS)('worklist and study pages (%s)', (backend) => {
  let t: TestApp;
  let w: Worklist;
  let readerA: ConsoleSession;
  let adminA: ConsoleSession;
  let readerB: ConsoleSession;
  let scriptStudyUid: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    w = await seedWorklist(t);
    // A patient name that would run script if the page did not escape it.
    scriptStudyUid = newTestUid();
    await seedStoredInstance(
      t,
      { groupId: w.a.groupId, facilityId: w.facilities.a2.facilityId },
      {
        sample: 'MR_small.dcm',
        receivedAt: '2024-02-01T09:00:00.000Z',
        set: {
          studyInstanceUid: scriptStudyUid,
          seriesInstanceUid: newTestUid(),
          sopInstanceUid: newTestUid(),
          patientName: '<script>alert(1)</script>^EVIL',
          patientId: 'PID-XSS"><b>',
          studyDate: '20240201',
          studyDescription: '<img src=x onerror=alert(2)>',
        },
      },
    );
    readerA = await signInConsole(t, w.a.reader);
    adminA = await signInConsole(t, w.a.admin);
    readerB = await signInConsole(t, w.b.reader);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it('lists the group’s studies, newest received first, with every column', async () => {
    const res = await consoleGet(t, '/worklist', readerA);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Worklist · Ferry</title>');
    expect(res.html).toContain('aria-current="page">Worklist</a>');
    expect(rowUids(res.html)).toEqual([
      w.obrien.studyUid,
      w.doe.studyUid,
      w.mueller.studyUid,
      scriptStudyUid,
    ]);
    expect(res.html).toContain('<table class="stack studies" aria-label="Studies">');
    for (const col of [
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
    ])
      expect(res.html).toContain(`<th scope="col">${col}</th>`);
    const doeRow = /<tr data-study-uid="[^"]+">(?:(?!<\/tr>).)*DOE, JOHN(?:(?!<\/tr>).)*<\/tr>/s.exec(
      res.html,
    )?.[0];
    expect(doeRow).toBeDefined();
    expect(doeRow).toContain(`<a href="/studies/${w.doe.studyUid}">DOE, JOHN</a>`);
    expect(doeRow).toContain('<td data-label="Patient ID">X%_1</td>');
    expect(doeRow).toContain('<time datetime="2024-02-10">2024-02-10</time>');
    expect(doeRow).toContain('<td data-label="Modality">MR</td>');
    expect(doeRow).toContain('<td data-label="Description">Brain MR</td>');
    expect(doeRow).toContain('<td data-label="Facility">North hospital</td>');
    expect(doeRow).toContain('<td data-label="Images">1</td>');
    expect(doeRow).toContain('<span class="badge receiving">receiving</span>');
    expect(doeRow).toContain(
      '<time datetime="2024-03-02T10:00:01.000Z" title="2024-03-02T10:00:01.000Z">2024-03-02 10:00 UTC</time>',
    );
    // A lazy thumbnail of the study (the page never waits for it), and the study in the viewer.
    expect(doeRow).toContain(
      `<td class="thumb-cell"><img class="thumb thumb-48" src="/dicomweb/studies/${w.doe.studyUid}/thumbnail" alt="Thumbnail of the study" width="48" height="48" loading="lazy" decoding="async"/></td>`,
    );
    expect(doeRow).toContain(
      `<a href="/viewer/viewer?StudyInstanceUIDs=${w.doe.studyUid}" aria-label="Open in viewer: DOE, JOHN, 2024-02-10">Open in viewer</a>`,
    );
    // Müller's instance 1 was resent with other bytes: updated, two current images.
    const muellerRow = new RegExp(
      `<tr data-study-uid="${w.mueller.studyUid}">(?:(?!</tr>).)*</tr>`,
      's',
    ).exec(res.html)?.[0];
    expect(muellerRow).toContain('MÜLLER, Zoë');
    expect(muellerRow).toContain('<span class="badge updated">updated</span>');
    expect(muellerRow).toContain('<td data-label="Images">2</td>');
    // The filter form, with its labels.
    expect(res.html).toContain('<form method="get" action="/worklist" class="filters"');
    for (const [id, label] of [
      ['wl-q', 'Patient name or ID'],
      ['wl-status', 'Status'],
      ['wl-modality', 'Modality'],
      ['wl-facility', 'Facility'],
      ['wl-from', 'From'],
      ['wl-to', 'To'],
      ['wl-sort', 'Sort'],
    ])
      expect(res.html).toContain(`<label for="${id}">${label}</label>`);
    expect(res.html).toContain('<button type="submit">Search</button>');
    expect(res.html).not.toContain('Next page');
  });

  it('admins see the same worklist', async () => {
    const res = await consoleGet(t, '/worklist', adminA);
    expect(res.status).toBe(200);
    expect(rowUids(res.html)).toHaveLength(4);
    expect(res.html).toContain(`href="/viewer/viewer?StudyInstanceUIDs=${w.mueller.studyUid}"`);
    const study = await consoleGet(t, `/studies/${w.mueller.studyUid}`, adminA);
    expect(study.html).toContain(
      `<a class="button" href="/viewer/viewer?StudyInstanceUIDs=${w.mueller.studyUid}">Open in viewer</a>`,
    );
  });

  it('searches by the start of a name word, and by patient ID', async () => {
    const byName = await consoleGet(t, '/worklist?q=mull', readerA);
    expect(rowUids(byName.html)).toEqual([w.mueller.studyUid]);
    expect(byName.html).toContain('value="mull"');
    const byGiven = await consoleGet(t, '/worklist?q=zoe', readerA);
    expect(rowUids(byGiven.html)).toEqual([w.mueller.studyUid]);
    const byId = await consoleGet(t, `/worklist?q=${encodeURIComponent('PID-003')}`, readerA);
    expect(rowUids(byId.html)).toEqual([w.obrien.studyUid]);
    // LIKE wildcards in the search are literal.
    const wild = await consoleGet(t, `/worklist?q=${encodeURIComponent('X%_')}`, readerA);
    expect(rowUids(wild.html)).toEqual([w.doe.studyUid]);
    const none = await consoleGet(t, '/worklist?q=nobody', readerA);
    expect(rowUids(none.html)).toEqual([]);
    expect(none.html).toContain('No studies match.');
  });

  it('filters by status, modality, facility and study date, and sorts', async () => {
    const updated = await consoleGet(t, '/worklist?status=updated', readerA);
    expect(rowUids(updated.html)).toEqual([w.mueller.studyUid]);
    expect(updated.html).toMatch(/<option value="updated" selected="">Updated<\/option>/);
    const complete = await consoleGet(t, '/worklist?status=complete', readerA);
    expect(rowUids(complete.html)).toEqual([]);
    const ct = await consoleGet(t, '/worklist?modality=ct', readerA);
    expect(rowUids(ct.html)).toEqual([w.mueller.studyUid]);
    const south = await consoleGet(t, `/worklist?facility=${w.facilities.a2.facilityId}`, readerA);
    expect(rowUids(south.html).sort()).toEqual([w.obrien.studyUid, scriptStudyUid].sort());
    const dated = await consoleGet(t, '/worklist?from=2024-01-01&to=2024-01-31', readerA);
    expect(rowUids(dated.html)).toEqual([w.mueller.studyUid]);
    const byName = await consoleGet(t, '/worklist?sort=patientName', readerA);
    expect(rowUids(byName.html).filter((u) => u !== scriptStudyUid)).toEqual([
      w.doe.studyUid,
      w.mueller.studyUid,
      w.obrien.studyUid,
    ]);
    const byDate = await consoleGet(t, '/worklist?sort=studyDate', readerA);
    expect(rowUids(byDate.html)).toEqual([
      w.doe.studyUid,
      scriptStudyUid,
      w.mueller.studyUid,
      w.obrien.studyUid,
    ]);
  });

  it('re-renders the form with the reason when a filter cannot be used', async () => {
    const res = await consoleGet(t, '/worklist?from=2024-13-01&status=lost', readerA);
    expect(res.status).toBe(400);
    expect(res.html).toContain('2024-13-01 is not a calendar date.');
    expect(res.html).toContain('Choose a status from the list.');
    expect(res.html).toContain('aria-describedby="wl-from-error"');
    expect(rowUids(res.html)).toEqual([]);
    const otherFacility = await consoleGet(t, `/worklist?facility=${w.facilities.b.facilityId}`, readerA);
    expect(otherFacility.status).toBe(400);
    expect(otherFacility.html).toContain('That facility is not one of your group’s');
    expect(otherFacility.html).not.toContain(w.other.studyUid);
    const reversed = await consoleGet(t, '/worklist?from=2024-02-01&to=2024-01-01', readerA);
    expect(reversed.html).toContain('The “To” date is before the “From” date.');
    const badCursor = await consoleGet(t, '/worklist?cursor=garbage', readerA);
    expect(badCursor.status).toBe(400);
    expect(badCursor.html).toContain('This page link is out of date');
    expect(linkHref(badCursor.html, 'First page')).toBe('/worklist');
  });

  it('pages with "Next page", keeping the filters, without overlap or gaps', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/worklist?sort=receivedAt&limit=3';
    let pages = 0;
    while (path) {
      const res = await consoleGet(t, path, readerA);
      expect(res.status).toBe(200);
      const uids = rowUids(res.html);
      expect(uids.length).toBeGreaterThan(0);
      seen.push(...uids);
      if (pages > 0) expect(linkHref(res.html, 'First page')).toBe('/worklist?sort=receivedAt&limit=3');
      // Only the first page watches for new studies (worklist.js); later pages are pinned by their cursor.
      if (pages === 0) {
        expect(res.html).toContain('<div id="worklist-results" data-live="true">');
        expect(res.html).toContain('id="worklist-show-changes"');
        expect(res.html).toContain('<script src="/assets/worklist.js" defer="">');
      } else {
        expect(res.html).toContain('<div id="worklist-results">');
        expect(res.html).not.toContain('id="worklist-show-changes"');
      }
      const next = /<a href="([^"]+)" rel="next">Next page<\/a>/
        .exec(res.html)?.[1]
        ?.replaceAll('&amp;', '&');
      if (next) {
        expect(next).toContain('sort=receivedAt');
        expect(next).toContain('limit=3');
        expect(next).toContain('cursor=');
      }
      path = next;
      pages++;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual([w.obrien.studyUid, w.doe.studyUid, w.mueller.studyUid, scriptStudyUid]);

    // Filters ride along: MR studies one at a time.
    const first = await consoleGet(t, '/worklist?modality=MR&limit=1', readerA);
    expect(rowUids(first.html)).toEqual([w.obrien.studyUid]);
    const next = linkHref(first.html, 'Next page');
    expect(next).toBeDefined();
    const second = await consoleGet(t, next ?? '', readerA);
    expect(rowUids(second.html)).toEqual([w.doe.studyUid]);
  });

  it('another group’s reader sees none of group A’s studies, and a 404 page on one of them', async () => {
    const list = await consoleGet(t, '/worklist', readerB);
    expect(rowUids(list.html)).toEqual([w.other.studyUid]);
    for (const s of [w.mueller, w.doe, w.obrien]) expect(list.html).not.toContain(s.studyUid);
    expect(list.html).not.toContain('MÜLLER');
    // Group A's facilities are not offered in the filter either.
    expect(list.html).not.toContain('North hospital');
    expect(list.html).not.toContain(w.facilities.a1.facilityId);
    expect(list.html).toContain(`<option value="${w.facilities.b.facilityId}">Other group hospital</option>`);
    const search = await consoleGet(t, '/worklist?q=doe', readerB);
    expect(rowUids(search.html)).toEqual([w.other.studyUid]);
    const page = await consoleGet(t, `/studies/${w.doe.studyUid}`, readerB);
    expect(page.status).toBe(404);
    expect(page.html).toContain('<h1>No such study</h1>');
    expect(page.html).not.toContain('Brain MR');
    expect(page.html).not.toContain('DOE, JOHN');
  });

  it('an unknown or malformed study UID is the same 404 page', async () => {
    for (const uid of ['1.2.3.4.5.6.999', 'not%20a%20uid']) {
      const res = await consoleGet(t, `/studies/${uid}`, readerA);
      expect(res.status).toBe(404);
      expect(res.html).toContain('<h1>No such study</h1>');
    }
  });

  it('without a session the pages redirect to sign in', async () => {
    const list = await consoleGet(t, '/worklist?q=doe');
    expect(list.status).toBe(303);
    expect(list.location).toBe(`/login?next=${encodeURIComponent('/worklist?q=doe')}`);
    const study = await consoleGet(t, `/studies/${w.doe.studyUid}`);
    expect(study.status).toBe(303);
  });

  it('the study page shows facts, series, instances with versions, the timeline and the links', async () => {
    const res = await consoleGet(t, `/studies/${w.mueller.studyUid}`, readerA);
    expect(res.status).toBe(200);
    const html = res.html;
    expect(html).toContain('<h1>Study Chest CT</h1>');
    expect(html).toMatch(/<dl class="facts">/);
    for (const fact of [
      '<dd>MÜLLER, Zoë</dd>',
      '<dd>PID-001</dd>',
      '<time datetime="2024-01-05">2024-01-05</time>',
      '<dd>ACC-1</dd>',
      '<dd>CT</dd>',
      '<dd>North hospital</dd>',
      '<span class="badge updated">updated</span>',
      '<dd>2</dd>',
    ])
      expect(html).toContain(fact);
    expect(html).toContain(
      `<a class="button" href="/viewer/viewer?StudyInstanceUIDs=${w.mueller.studyUid}">Open in viewer</a>`,
    );
    expect(html).toContain(
      `<a class="button secondary" href="/api/v1/studies/${w.mueller.studyUid}/download" download="">Download zip</a>`,
    );
    expect(html).toContain('<label for="dicomweb-url">');
    expect(html).toContain(
      `<input id="dicomweb-url" type="text" readonly="" value="${t.deps.publicUrl.replace(/\/+$/, '')}/dicomweb/studies/${w.mueller.studyUid}"`,
    );
    expect(html).toContain(
      '<button type="button" class="secondary" data-copy="dicomweb-url">Copy DICOMweb URL</button>',
    );

    expect(html).toContain('<h2 id="series-heading">Series</h2>');
    // One card per series: its thumbnail (lazy, from DICOMweb), modality, number, description and
    // count, and its instances behind a closed disclosure.
    const anchor = `series-${w.mueller.seriesUid}`;
    const card = new RegExp(
      `<article class="series card" id="${anchor}"(?:(?!</article>).)*</article>`,
      's',
    ).exec(html)?.[0];
    expect(card).toBeDefined();
    expect(card).toContain(
      `<img class="thumb thumb-96" src="/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/thumbnail" alt="Thumbnail of CT series 1" width="96" height="96" loading="lazy" decoding="async"/>`,
    );
    expect(card).toMatch(new RegExp(`<h3 id="${anchor}-h">CT · series 1 · [^<]*2 images</h3>`));
    expect(card).toContain(`Series Instance UID <code>${w.mueller.seriesUid}</code>`);
    expect(card).toContain('<details><summary>Instances (2)</summary>');
    expect(card).not.toContain('rel="next"');
    expect(html).toContain('<th scope="col">SOP Instance UID</th>');
    const sop1 = w.mueller.current[0]?.sealed.manifest.sopInstanceUid ?? '';
    const sop2 = w.mueller.current[1]?.sealed.manifest.sopInstanceUid ?? '';
    expect(sop1).not.toBe('');
    const row1 = new RegExp(
      `<tr><td data-label="SOP Instance UID"><code>${sop1}</code>(?:(?!</tr>).)*</tr>`,
      's',
    ).exec(html)?.[0];
    expect(row1).toBeDefined();
    // Two versions, newest (current) first, each with received and stored times and the size.
    expect(row1).toMatch(
      /Version 2 <strong class="badge complete">current<\/strong> · received <time datetime="2024-03-01T10:05:00\.000Z" title=/,
    );
    expect(row1).toContain(
      'Version 1 · received <time datetime="2024-03-01T10:00:01.000Z" title="2024-03-01T10:00:01.000Z">2024-03-01 10:00 UTC</time>',
    );
    expect(row1).toContain(`${formatBytes(w.mueller.current[0]?.sealed.plaintext.length ?? 0)}</li>`);
    expect(row1?.match(/ · stored <time/g)).toHaveLength(2);
    expect(html).toContain(`<code>${sop2}</code>`);

    expect(html).toContain('<h2 id="timeline-heading">Timeline</h2>');
    const timeline = /<ol class="timeline">(.*?)<\/ol>/s.exec(html)?.[1] ?? '';
    const items = [
      ...timeline.matchAll(/<li><time datetime="([^"]+)" title="[^"]+">[^<]*<\/time> — ([^<]*)<\/li>/g),
    ].map((m) => ({ at: m[1] ?? '', text: m[2] ?? '' }));
    expect(items[0]).toEqual({
      at: '2024-03-01T10:00:01.000Z',
      text: 'First instance received at the gateway',
    });
    const texts = items.map((i) => i.text);
    expect(texts).toContain('First instance stored in the cloud');
    expect(texts).toContain('Latest instance received at the gateway');
    expect(texts).toContain('Study added to the worklist');
    expect(texts).toContain(`Instance ${sop1} replaced: version 2 is current`);
    const times = items.map((i) => Date.parse(i.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('the study page pages each series’ instances, keeping the others on their first page', async () => {
    const [sop1, sop2] = w.mueller.current.map((i) => i.sealed.manifest.sopInstanceUid);
    const sopsShown = (html: string) =>
      [...html.matchAll(/<td data-label="SOP Instance UID"><code>([^<]+)<\/code>/g)].map((m) => m[1]);
    const base = `/studies/${w.mueller.studyUid}`;
    const first = await consoleGet(t, `${base}?series=${w.mueller.seriesUid}&limit=1`, readerA);
    expect(first.status).toBe(200);
    // The series asked for is open at its page; the page says where it is and links on.
    expect(first.html).toContain('<details open=""><summary>Instances (2)</summary>');
    expect(sopsShown(first.html)).toEqual([sop1]);
    expect(first.html).toContain('<span>Instances 1–1 of 2</span>');
    expect(first.html).not.toContain('rel="prev"');
    const next = linkHref(first.html.replace(/ rel="next"/, ''), 'Next page');
    expect(next).toBe(`${base}?series=${w.mueller.seriesUid}&page=2&limit=1#series-${w.mueller.seriesUid}`);
    const second = await consoleGet(t, next ?? '', readerA);
    expect(second.status).toBe(200);
    expect(sopsShown(second.html)).toEqual([sop2]);
    expect(second.html).toContain('<span>Instances 2–2 of 2</span>');
    expect(second.html).not.toContain('rel="next"');
    expect(linkHref(second.html.replace(/ rel="prev"/, ''), 'Previous page')).toBe(
      `${base}?series=${w.mueller.seriesUid}&page=1&limit=1#series-${w.mueller.seriesUid}`,
    );
    // Versions stay with their instance on its page: sop1's two versions are on page 1 only.
    expect(first.html.match(/Version \d/g)).toHaveLength(2);
    expect(second.html.match(/Version \d/g)).toHaveLength(1);
    // Past the end: no rows, a way back; nonsense paging falls back to the first page of 50.
    const past = await consoleGet(t, `${base}?series=${w.mueller.seriesUid}&page=9&limit=1`, readerA);
    expect(past.status).toBe(200);
    expect(sopsShown(past.html)).toEqual([]);
    expect(past.html).toContain('No instances on this page.');
    for (const query of [
      'series=nope%20x&page=-1&limit=100000',
      `series=${w.mueller.seriesUid}&page=99999999999999999999&limit=1.5`,
      `series=${w.doe.seriesUid}&page=2`,
    ]) {
      const odd = await consoleGet(t, `${base}?${query}`, readerA);
      expect(odd.status, query).toBe(200);
      expect(sopsShown(odd.html), query).toEqual([sop1, sop2]);
    }
    // A series of another study is no series of this one: nothing opens.
    expect((await consoleGet(t, `${base}?series=${w.doe.seriesUid}`, readerA)).html).not.toContain(
      '<details open',
    );
  });

  it('another group’s reader gets the same 404 on a study page at any page, and no viewer link', async () => {
    for (const path of [
      `/studies/${w.mueller.studyUid}?series=${w.mueller.seriesUid}&page=2&limit=1`,
      `/studies/${w.mueller.studyUid}?series=${w.mueller.seriesUid}`,
    ]) {
      const res = await consoleGet(t, path, readerB);
      expect(res.status, path).toBe(404);
      expect(res.html).toContain('<h1>No such study</h1>');
      expect(res.html).not.toContain('/viewer/viewer');
      expect(res.html).not.toContain('/thumbnail');
      expect(res.html).not.toContain(w.mueller.seriesUid);
    }
    const own = await consoleGet(t, `/studies/${w.other.studyUid}`, readerB);
    expect(own.html).toContain(`href="/viewer/viewer?StudyInstanceUIDs=${w.other.studyUid}"`);
    // A session cookie that is not one (or has ended) is sent to sign in, as on every page.
    const forged = await consoleGet(t, `/studies/${w.mueller.studyUid}?page=2`, {
      cookie: `${readerA.cookie.split('=')[0]}=forged`,
      csrf: '',
    });
    expect(forged.status).toBe(303);
    expect(forged.location).toMatch(/^\/login\?next=/);
  });

  it('the download link and the page styles work with the console session alone', async () => {
    const page = await consoleGet(t, `/studies/${w.doe.studyUid}`, readerA);
    const href = /<a class="button secondary" href="([^"]+)" download="">Download zip<\/a>/.exec(
      page.html,
    )?.[1];
    expect(href).toBe(`/api/v1/studies/${w.doe.studyUid}/download`);
    const zip = await consoleGet(t, href ?? '', readerA);
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-type')).toBe('application/zip');
    expect(zip.headers.get('content-disposition')).toMatch(/^attachment; filename=".+\.zip"$/);
    // Another group's session cannot download it.
    expect((await consoleGet(t, href ?? '', readerB)).status).toBe(404);
    expect(page.html).toContain('<link rel="stylesheet" href="/assets/worklist.css"/>');
    const css = await consoleGet(t, '/assets/worklist.css');
    expect(css.status).toBe(200);
    expect(css.html).toContain('ul.versions');
  });

  it('the thumbnails the pages show load with the console session alone, for its group only', async () => {
    const list = await consoleGet(t, '/worklist', readerA);
    const page = await consoleGet(t, `/studies/${w.mueller.studyUid}`, readerA);
    const studyThumb = new RegExp(
      `<img class="thumb thumb-48" src="(/dicomweb/studies/${w.mueller.studyUid}/thumbnail)"`,
    ).exec(list.html)?.[1];
    const seriesThumb = /<img class="thumb thumb-96" src="([^"]+)"/.exec(page.html)?.[1];
    expect(seriesThumb).toBe(
      `/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/thumbnail`,
    );
    for (const src of [studyThumb, seriesThumb]) {
      const img = await consoleGet(t, src ?? '', readerA);
      expect(img.status, src).toBe(200);
      expect(img.headers.get('content-type')).toBe('image/jpeg');
      expect((await consoleGet(t, src ?? '', readerB)).status, src).toBe(404);
    }
  });

  it('escapes patient data everywhere it is shown', async () => {
    const list = await consoleGet(t, '/worklist?q=EVIL', readerA);
    expect(rowUids(list.html)).toEqual([scriptStudyUid]);
    expect(list.html).not.toContain('<script>alert(1)');
    expect(list.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;, EVIL');
    expect(list.html).not.toContain('<img src=x');
    expect(list.html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(list.html).not.toContain('PID-XSS"><b>');
    // What the user typed is echoed into the search box as an attribute value, escaped.
    const typed = await consoleGet(t, `/worklist?q=${encodeURIComponent('"><script>x</script>')}`, readerA);
    expect(typed.html).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
    expect(typed.html).not.toContain('<script>x');
    const page = await consoleGet(t, `/studies/${scriptStudyUid}`, readerA);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<script>alert(1)');
    expect(page.html).not.toContain('<img src=x');
    expect(page.html).toContain('<title>Study &lt;img src=x onerror=alert(2)&gt; · Ferry</title>');
    // The only <script> elements are the same-origin asset files.
    expect([...page.html.matchAll(/<script\b[^>]*>/g)].every((m) => /src="\/assets\//.test(m[0]))).toBe(true);
  });
});
