// The OHIF viewer at /viewer/, in headless Chromium against a control plane serving the real release
// (control-plane/viewer-dist, which `node control-plane/scripts/fetch-viewer.mjs` puts there; .ci/run
// does before the tests). A signed-out reader who follows a study link signs in and comes back to it;
// OHIF loads from this server alone (its chunks, workers and WebAssembly under /viewer/, its data from
// /dicomweb with the session cookie) under the viewer's CSP without a violation, and draws the study.
// The journey through a real agent, with pixel statistics against /rendered, is reading-room.int.test.ts.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FETCH_VIEWER_COMMAND, loadViewerRelease } from '../../control-plane/src/viewer/viewer-release.js';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../testkit/control-plane/harness.js';
import { newTestUid } from '../../testkit/control-plane/seal-object.js';
import { seedStoredInstance } from '../../testkit/control-plane/seed-stored-study.js';
import { collectConsoleErrors, launchBrowser, newPage, screenshot, signIn } from '../harness/browser.js';
import { canvasStats, openViewer, type ServedApp, serveTestApp, viewerUrl } from '../harness/viewer.js';

const SLICES = 3;

/** Watches a page for what must not happen in the viewer: console errors, failed or off-origin requests. */
function watch(page: Page, origin: string): { errors: string[]; failed: string[]; offOrigin: string[] } {
  const seen = { errors: collectConsoleErrors(page), failed: [] as string[], offOrigin: [] as string[] };
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) seen.offOrigin.push(r.url());
  });
  page.on('response', (r) => {
    if (r.status() >= 400) seen.failed.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return seen;
}

describe('the OHIF viewer in Chromium', () => {
  let t: TestApp;
  let served: ServedApp;
  let browser: Browser;
  let group: SeededGroup;
  /** A CT series of native (uncompressed) slices, and a JPEG-LS MR the viewer decodes in WebAssembly. */
  const studies = { ct: '', jpegLs: '' };

  async function seedStudy(sample: string, slices: number, description: string): Promise<string> {
    const facility = await seedFacility(t, group);
    const studyUid = newTestUid();
    const seriesUid = newTestUid();
    for (let n = 1; n <= slices; n++)
      await seedStoredInstance(
        t,
        { groupId: group.groupId, facilityId: facility.facilityId },
        {
          sample,
          set: {
            studyInstanceUid: studyUid,
            seriesInstanceUid: seriesUid,
            sopInstanceUid: newTestUid(),
            instanceNumber: n,
            patientName: 'VIEWER^TEST',
            studyDescription: description,
          },
        },
      );
    return studyUid;
  }

  beforeAll(async () => {
    const installed = await loadViewerRelease();
    if (!installed.ok)
      throw new Error(
        `${installed.reason} Run \`${FETCH_VIEWER_COMMAND}\` (npm test does) before this test.`,
      );
    t = await createTestApp(BACKENDS[0]!);
    group = await t.seedGroup('Viewer readers');
    studies.ct = await seedStudy('CT_small.dcm', SLICES, 'Viewer CT');
    studies.jpegLs = await seedStudy('MR_small_jpeg_ls_lossless.dcm', 1, 'Viewer JPEG-LS');
    served = await serveTestApp(t);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await t?.close();
  });

  it('a signed-out reader follows a study link, signs in, and OHIF draws the study from this server alone', async () => {
    const { context, page } = await newPage(browser);
    const seen = watch(page, served.url);
    try {
      await page.goto(viewerUrl(served.url, studies.ct));
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByLabel('Email').fill(group.reader.email);
      await page.getByLabel('Password').fill(group.reader.password);
      await Promise.all([
        page.waitForURL((u) => u.pathname === '/viewer/viewer'),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      expect(new URL(page.url()).searchParams.get('StudyInstanceUIDs')).toBe(studies.ct);

      await openViewer(page, served.url, studies.ct);
      await expect.poll(async () => (await canvasStats(page)).std, { timeout: 15_000 }).toBeGreaterThan(5);
      await screenshot(page, 'viewer-ct');
      // The study browser lists the series with its slice count.
      expect(await page.textContent('body')).toContain('Viewer CT');
      expect(seen).toEqual({ errors: [], failed: [], offOrigin: [] });
    } finally {
      await context.close();
    }
  });

  it("decodes a JPEG-LS image in its WebAssembly workers, under the workers' CSP and not the page's", async () => {
    const { context, page } = await newPage(browser);
    const seen = watch(page, served.url);
    try {
      await signIn(page, served.url, group.reader.email, group.reader.password);
      await openViewer(page, served.url, studies.jpegLs);
      await expect.poll(async () => (await canvasStats(page)).std, { timeout: 15_000 }).toBeGreaterThan(5);
      await screenshot(page, 'viewer-jpeg-ls');
      expect(seen).toEqual({ errors: [], failed: [], offOrigin: [] });
    } finally {
      await context.close();
    }
  });

  it("lists the group's studies on OHIF's own study list, as QIDO-RS answers its queries", async () => {
    const { context, page } = await newPage(browser);
    const seen = watch(page, served.url);
    try {
      await signIn(page, served.url, group.reader.email, group.reader.password);
      await page.goto(`${served.url}/viewer/`);
      await page.getByText('Viewer JPEG-LS').first().waitFor();
      await page.getByText('Viewer CT').first().waitFor();
      await screenshot(page, 'viewer-study-list');
      expect(seen).toEqual({ errors: [], failed: [], offOrigin: [] });
    } finally {
      await context.close();
    }
  });
});
