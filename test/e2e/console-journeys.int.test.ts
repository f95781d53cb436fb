// The web console as people use it, in headless Chromium against the real control plane and agent:
// an admin sets up a facility and a gateway from the console and watches it go online and offline
// live; a study sent with storescu shows in the worklist and downloads as a zip of Part-10 files;
// readers cannot reach admin pages, and a reader of another group sees none of it. Every page passes
// an axe-core scan (no serious or critical violations) and fits a 390 px phone. Screenshots go to
// test/artifacts/; `npm run screenshots` (FERRY_PUBLISH_SCREENSHOTS=1) makes the fleet and worklist ones
// the README's docs/screenshots/, which a plain test run leaves untouched.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAgentReleaseFile } from '../../testkit/control-plane/agent-release.js';
import { readZip } from '../../testkit/control-plane/zip-reader.js';
import {
  type AgentProcess,
  enrollAgent,
  removeScratch,
  scratch,
  sleep,
  startAgent,
} from '../harness/agent.js';
import {
  ARTIFACTS_DIR,
  axeCheck,
  collectConsoleErrors,
  horizontalOverflow,
  launchBrowser,
  newPage,
  PHONE,
  PUBLISH_SCREENSHOTS,
  publishedScreenshot,
  publishScreenshot,
  screenshot,
  signIn,
} from '../harness/browser.js';
import { CLOUD_ADMIN } from '../harness/cloud.js';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { freePort, storescu, topLevelStrings } from '../harness/dcmtk.js';

const HEARTBEAT_SECONDS = 2;
const FACILITY = { name: 'Radiology North', aeTitle: 'GATEWAY' };
// `password` is the temporary one an admin gives (the invitation); `own` the one the user then chooses.
const READER = { email: 'reader@ferry.test', password: 'reader password 1234', own: 'the reader own 5678' };
const OTHER_ADMIN = {
  email: 'admin@other.test',
  password: 'other admin password 1',
  own: 'other admin own 2',
};
const OTHER_READER = {
  email: 'reader@other.test',
  password: 'other reader password 1',
  own: 'other reader own 3',
};
const STUDY_FILES = 6;
/** The gateway's one DICOM peer: its own listener, standing in for a PACS. */
const OWN_LISTENER = 'Own listener';

let root: string;
let cp: ControlPlaneProcess;
let session: string;
let browser: Browser;
let admin: { context: BrowserContext; page: Page };
let consoleErrors: string[];
let agent: AgentProcess | undefined;
let agentDataDir: string;
let dicomPort: number;
// Filled in as the journeys go.
let facilityId = '';
let gatewayId = '';
let studyUid = '';
let fleetShot = '';
let worklistShot = '';

const api = <T = unknown>(method: string, path: string, body?: unknown) =>
  cp.api<T>(method, path, { token: session, ...(body !== undefined ? { body } : {}) });

/** The README's images as they are on disk (modification time and bytes). */
async function readmeImages(): Promise<{ mtimeMs: number; bytes: Buffer }[]> {
  return Promise.all(
    ['fleet', 'worklist'].map(async (as) => {
      const file = publishedScreenshot(as);
      return { mtimeMs: (await stat(file)).mtimeMs, bytes: await readFile(file) };
    }),
  );
}
let readmeImagesBefore: Awaited<ReturnType<typeof readmeImages>>;

beforeAll(async () => {
  readmeImagesBefore = await readmeImages();
  browser = await launchBrowser();
  root = await scratch('console');
  cp = await startControlPlane({
    dataDir: join(root, 'control-plane'),
    adminEmail: CLOUD_ADMIN.email,
    adminPassword: CLOUD_ADMIN.password,
    env: { FERRY_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS), FERRY_AGENT_RELEASE: testAgentReleaseFile() },
  });
  session = await cp.login(CLOUD_ADMIN.email, CLOUD_ADMIN.password);
  admin = await newPage(browser, { origin: cp.url });
  consoleErrors = collectConsoleErrors(admin.page);
  agentDataDir = join(root, 'agent');
  dicomPort = await freePort();
}, 120_000);

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await cp?.stop().catch(() => undefined);
  await removeScratch(root);
});

/** Whether an <img> has loaded a picture (not broken, not still waiting). */
function loadedImage(img: Locator): Promise<boolean> {
  // Runs in the page; the test's types have no DOM library, so the element is described here.
  return img.evaluate((el: { complete?: boolean; naturalWidth?: number }) =>
    Boolean(el.complete && (el.naturalWidth ?? 0) > 0),
  );
}

/** The fleet row of the journey's gateway and its status badge. */
function gatewayRow(page: Page) {
  return page.locator(`tr[data-gateway-id="${gatewayId}"]`);
}

async function waitForRowStatus(page: Page, status: string, timeoutMs: number): Promise<void> {
  await gatewayRow(page)
    .locator(`.badge[data-status="${status}"]`)
    .waitFor({ state: 'visible', timeout: timeoutMs })
    .catch(async (err: unknown) => {
      const row = await gatewayRow(page)
        .textContent()
        .catch(() => '(no row)');
      throw new Error(
        `the fleet row never showed ${status}: ${row}\n${String(err)}\n${agent?.output().slice(-2000) ?? ''}`,
      );
    });
}

/**
 * The gateway just went offline: its gateway.offline alert shows on the Alerts page (opened by the
 * control plane's own job, no request needed) with the nav's count; the admin acknowledges it and the
 * count drops. The page stays in another tab so the fleet page keeps its live updates.
 */
async function alertsJourney(fleetPage: Page): Promise<void> {
  const page = await fleetPage.context().newPage();
  const row = page.locator('tr[data-alert]', { has: page.locator(`a[href="/gateways/${gatewayId}"]`) });
  await expect
    .poll(
      async () => {
        await page.goto(`${cp.url}/alerts`);
        return row.count();
      },
      { timeout: 15_000 },
    )
    .toBe(1);
  expect(await row.textContent()).toContain('gateway.offline');
  const navCount = page.getByRole('navigation', { name: 'Main' }).locator('[data-alert-count]');
  expect(await navCount.textContent()).toMatch(/^\s*1 unacknowledged error$/);
  await axeCheck(page, 'alerts');
  await publishScreenshot(await screenshot(page, 'console-alerts'), 'alerts');
  await row.getByRole('button', { name: /^Acknowledge gateway\.offline/ }).click();
  await page.waitForURL(/\/alerts\?notice=acknowledged$/);
  expect(await navCount.count()).toBe(0);
  expect(await row.textContent()).toMatch(/by admin@/);
  await axeCheck(page, 'alerts after acknowledge');
  await page.close();
}

/** The value of `--flag VALUE` (or a single-quoted 'VALUE') in a shell line. */
function flag(command: string, name: string): string {
  const m = new RegExp(`--${name}\\s+(?:'((?:[^']|'\\\\'')*)'|(\\S+))`).exec(command);
  const value = m?.[1]?.replace(/'\\''/g, "'") ?? m?.[2];
  if (!value) throw new Error(`no --${name} in the install command: ${command}`);
  return value;
}

describe('console journeys in Chromium', () => {
  it('an admin signs in, creates a facility and an enrollment token, and copies the install command', async () => {
    const { page } = admin;
    await page.goto(`${cp.url}/login`);
    await screenshot(page, 'console-login');
    await signIn(page, cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
    expect(new URL(page.url()).pathname).toBe('/fleet');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Facilities' }).click();
    await page.waitForURL('**/facilities');
    await page.getByRole('link', { name: 'New facility' }).click();
    await page.waitForURL('**/facilities/new');
    await page.getByLabel('Name', { exact: true }).fill(FACILITY.name);
    // The AE title is checked as it is typed, with the API's own words.
    await page.getByLabel('AE title').fill('A_TITLE_TOO_LONG_X');
    await expect
      .poll(() => page.locator('body').textContent())
      .toContain('AE title must be at most 16 characters (got 18)');
    await screenshot(page, 'console-facility-ae-title-error');
    await page.getByLabel('AE title').fill(FACILITY.aeTitle);
    await page.getByLabel('Stable period (seconds)').fill('2');
    await Promise.all([
      page.waitForURL(/\/facilities\/[0-9a-f-]{36}(\?|$)/),
      page.getByRole('button', { name: 'Create facility' }).click(),
    ]);
    facilityId = new URL(page.url()).pathname.split('/').pop() ?? '';
    expect(await page.getByRole('status').allInnerTexts()).toContain('Facility created');
    expect(await page.locator('h1').textContent()).toBe(FACILITY.name);
    // Nothing limits who may store yet, and the page says so plainly.
    expect(await page.locator('#open-to-any-caller').textContent()).toMatch(
      /^Any machine on the network can store images to this facility's gateways/,
    );

    // The DICOM port, the callers allowed to store (storescu, and the gateway itself for its C-ECHO
    // below) and the DICOM peer it may C-ECHO are gateway config the control plane pushes: set them
    // on the facility before enrolling.
    const patched = await api('PATCH', `/api/v1/facilities/${facilityId}`, {
      gateway: {
        port: dicomPort,
        allowedCallingAeTitles: ['STORESCU', FACILITY.aeTitle],
        peers: [{ name: OWN_LISTENER, aeTitle: FACILITY.aeTitle, host: '127.0.0.1', port: dicomPort }],
      },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await page.reload();
    expect(await page.locator('#open-to-any-caller').count()).toBe(0);
    expect(await page.locator('#allowed-callers').textContent()).toBe(
      `Only these calling AE titles can store to this facility's gateways: STORESCU, ${FACILITY.aeTitle}.`,
    );

    await page.getByLabel('Expires in (hours)').fill('2');
    await page.getByRole('button', { name: 'Create enrollment token' }).click();
    const command = page.locator('#install-command');
    await command.waitFor();
    const text = ((await command.textContent()) ?? '').trim();
    // One line in one copy box: download the control plane's release, check it, install and enroll.
    expect(text).toMatch(
      /^cd "\$\(mktemp -d\)" && curl -fsSLo \S+ \S+\/downloads\/ferry-agent-linux-x64\.tar\.gz && echo '[0-9a-f]{64} {2}\S+' \| sha256sum -c && tar .* && printf %s fet_\S+ \| sudo \.\/install\.sh --server \S+ --token-file - --key-thumbprint \S+$/,
    );
    expect(text).not.toContain('npx');
    expect(await page.locator('.install-box pre').count()).toBe(1);
    expect(await page.locator('.install-box [data-copy]').count()).toBe(1);
    expect(flag(text, 'server')).toBe(cp.publicUrl);
    expect(await page.locator('#key-thumbprint').textContent()).toBe(flag(text, 'key-thumbprint'));
    // By its target, not its name: the button reads "Copied" for a while once clicked.
    const copy = page.locator('.install-box [data-copy="install-command"]');
    expect(await copy.textContent()).toBe('Copy install command');
    await copy.click();
    await expect.poll(() => copy.getAttribute('data-copied')).toBe('true');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(text);
    await screenshot(page, 'console-install-command');

    // What the line's install.sh runs (infra.int.test.ts runs the whole line), with this test's data
    // directory: the token on standard input, the key pinned.
    const enrolled = await enrollAgent({
      server: flag(text, 'server'),
      token: /printf %s (fet_\S+) \|/.exec(text)?.[1] ?? '',
      keyThumbprint: flag(text, 'key-thumbprint'),
      dataDir: agentDataDir,
    });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const file = join(agentDataDir, 'agent.json');
    const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    gatewayId = String(config.gatewayId);
    expect(gatewayId).toMatch(/^[0-9a-f-]{36}$/);
    await writeFile(file, JSON.stringify({ ...config, host: '127.0.0.1', port: dicomPort }, null, 2));
  });

  it('the fleet page shows the gateway go online and then offline, live, without a reload', async () => {
    expect(gatewayId, 'needs the enrolled gateway').not.toBe('');
    const { page } = admin;
    await page.goto(`${cp.url}/fleet`);
    await page.evaluate('window.__ferryNoReload = "still here"');
    agent = await startAgent({ dataDir: agentDataDir });
    await waitForRowStatus(page, 'online', 30_000);
    const row = gatewayRow(page);
    expect(await row.textContent()).toContain(FACILITY.aeTitle);
    expect(await page.evaluate('window.__ferryNoReload')).toBe('still here');
    const counts = page.getByRole('list', { name: 'Gateways by status' });
    const count = async (label: string) =>
      ((await counts.locator('li', { hasText: label }).locator('strong').textContent()) ?? '').trim();
    await expect.poll(() => count('Online')).toBe('1');
    await screenshot(page, 'console-fleet-online');

    await agent.stop();
    agent = undefined;
    await waitForRowStatus(page, 'offline', 8 * HEARTBEAT_SECONDS * 1000);
    expect(await page.evaluate('window.__ferryNoReload')).toBe('still here');
    await expect.poll(() => count('Offline')).toBe('1');
    await screenshot(page, 'console-fleet-offline');
    await alertsJourney(page);

    // Back online for the studies.
    agent = await startAgent({ dataDir: agentDataDir });
    await waitForRowStatus(page, 'online', 30_000);
    expect(await page.evaluate('window.__ferryNoReload')).toBe('still here');
  });

  it('a study sent with storescu shows in the worklist, opens, and downloads as a zip of Part-10 files', async () => {
    expect(agent, 'needs the running agent').toBeDefined();
    const files = (await corpusFiles(await smallCorpus())).slice(0, STUDY_FILES);
    studyUid = (await topLevelStrings(files[0] ?? '', ['0020,000d']))['0020,000d'] ?? '';
    expect(studyUid).not.toBe('');
    const sent = await storescu({ port: dicomPort, calledAe: FACILITY.aeTitle, files, timeoutMs: 60_000 });
    expect(sent.code, sent.stderr).toBe(0);

    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await api<{ status: string; instanceCount: number }>(
        'GET',
        `/api/v1/studies/${encodeURIComponent(studyUid)}`,
      );
      if (r.status === 200 && r.body.status === 'complete' && r.body.instanceCount === STUDY_FILES) break;
      if (Date.now() > deadline)
        throw new Error(`study never complete: ${r.status} ${JSON.stringify(r.body)}\n${agent?.output()}`);
      await sleep(500);
    }

    const { page } = admin;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Worklist' }).click();
    await page.waitForURL('**/worklist');
    await page.getByLabel('Patient name or ID').fill('FERRY');
    await Promise.all([page.waitForURL(/q=FERRY/), page.getByRole('button', { name: 'Search' }).click()]);
    const row = page.locator(`tr[data-study-uid="${studyUid}"]`);
    await row.waitFor();
    const rowText = await row.textContent();
    expect(rowText).toContain('FERRY, SMALL');
    expect(rowText).toContain(String(STUDY_FILES));
    expect(rowText).toContain(FACILITY.name);
    expect(await row.locator('.badge').textContent()).toBe('complete');
    // The row opens the study in the viewer, and carries a lazy thumbnail of it.
    const viewerHref = `/viewer/viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}`;
    expect(await row.getByRole('link', { name: /^Open in viewer/ }).getAttribute('href')).toBe(viewerHref);
    const thumb = row.getByRole('img', { name: 'Thumbnail of the study' });
    expect(await thumb.getAttribute('src')).toBe(
      `/dicomweb/studies/${encodeURIComponent(studyUid)}/thumbnail`,
    );
    expect(await thumb.getAttribute('loading')).toBe('lazy');
    // It loads, with the console session alone (and the README's screenshot shows it).
    await expect.poll(() => loadedImage(thumb), { timeout: 15_000 }).toBe(true);
    worklistShot = await screenshot(page, 'console-worklist');

    await Promise.all([page.waitForURL(/\/studies\//), row.getByRole('link').first().click()]);
    expect(await page.locator('h1').textContent()).toMatch(/^Study /);
    expect(await page.locator('#dicomweb-url').inputValue()).toBe(
      `${cp.publicUrl}/dicomweb/studies/${studyUid}`,
    );
    await expect.poll(() => page.getByRole('heading', { name: 'Timeline' }).count()).toBe(1);
    // Series as cards with a thumbnail each; their instances stay folded until asked for.
    const cards = page.locator('article.series');
    expect(await cards.count()).toBeGreaterThan(0);
    let cardImages = 0;
    for (const card of await cards.all()) {
      await card.locator('img.thumb').scrollIntoViewIfNeeded();
      await expect.poll(() => loadedImage(card.locator('img.thumb')), { timeout: 15_000 }).toBe(true);
      cardImages += Number(
        await card
          .locator('h3')
          .textContent()
          .then((h) => /(\d+) images?$/.exec(h ?? '')?.[1]),
      );
      expect(await card.locator('details').getAttribute('open')).toBeNull();
      expect(await card.locator('table.instances').isVisible()).toBe(false);
    }
    expect(cardImages).toBe(STUDY_FILES);
    await cards.first().locator('summary').click();
    expect(await cards.first().locator('table.instances').isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Open in viewer' }).getAttribute('href')).toBe(viewerHref);
    await screenshot(page, 'console-study');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download zip' }).click(),
    ]);
    const zipPath = join(ARTIFACTS_DIR, 'console-study.zip');
    await download.saveAs(zipPath);
    const { entries } = readZip(await readFile(zipPath));
    const dicom = entries.filter((e) => !e.name.endsWith('/'));
    expect(dicom).toHaveLength(STUDY_FILES);
    for (const e of dicom) expect(e.bytes.subarray(128, 132).toString('latin1'), e.name).toBe('DICM');

    // Opening the study and downloading it left a trace, found with the audit log's action filter.
    for (const action of ['study.read', 'study.download']) {
      await page.goto(`${cp.url}/audit`);
      await page.getByLabel('Action').fill(action);
      await Promise.all([page.waitForURL(/action=/), page.getByRole('button', { name: 'Filter' }).click()]);
      const rows = page.getByRole('table', { name: 'Audit log' }).locator('tbody tr');
      expect(await rows.count(), action).toBeGreaterThan(0);
      for (const text of await rows.allTextContents()) expect(text).toContain(action);
      expect(await rows.first().textContent()).toContain(studyUid);
    }

    // Back on the fleet page once heartbeats have reported health: the config the gateway applied is
    // the one the control plane wants (the README's fleet screenshot).
    await page.goto(`${cp.url}/fleet`);
    await expect
      .poll(async () => (await gatewayRow(page).textContent()) ?? '', { timeout: 20_000 })
      .toMatch(/(v\d+) \/ \1/);
    fleetShot = await screenshot(page, 'console-fleet');
  });

  it('a new reader first replaces the temporary password on the account page, then opens the worklist but gets the 403 page on admin pages', async () => {
    expect(studyUid, 'needs the stored study').not.toBe('');
    const made = await api('POST', '/api/v1/users', {
      email: READER.email,
      password: READER.password,
      role: 'reader',
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, cp.url, READER.email, READER.password);
      // The admin's password was the invitation: every page sends the reader to change it first.
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(await page.locator('#password-temporary').textContent()).toContain('temporary');
      await page.goto(`${cp.url}/worklist`);
      expect(new URL(page.url()).pathname).toBe('/account');
      await axeCheck(page, 'account page with a temporary password');
      await screenshot(page, 'console-account-temporary-password');
      await page.getByLabel('Current password').fill(READER.password);
      await page.getByLabel('New password').fill(READER.own);
      await Promise.all([
        page.waitForURL('**/worklist'),
        page.getByRole('button', { name: 'Change password' }).click(),
      ]);
      await page.locator(`tr[data-study-uid="${studyUid}"]`).waitFor();
      const nav = await page.getByRole('navigation', { name: 'Main' }).textContent();
      expect(nav).toContain('Worklist');
      expect(nav).not.toContain('Fleet');
      for (const path of ['/fleet', '/facilities', `/facilities/${facilityId}`, '/users', '/audit']) {
        const res = await page.goto(`${cp.url}${path}`);
        expect(res?.status(), path).toBe(403);
        expect(await page.locator('h1').textContent(), path).toBe('Not allowed');
      }
      await screenshot(page, 'console-reader-forbidden');

      // Signing out ends the session on the server: the old cookie, put back, opens nothing.
      await page.goto(`${cp.url}/worklist`);
      const cookies = await context.cookies();
      await Promise.all([
        page.waitForURL('**/login'),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      await context.addCookies(cookies);
      await page.goto(`${cp.url}/worklist`);
      expect(new URL(page.url()).pathname).toBe('/login');

      // The admin resets the reader's password from the users page: shown once, and the reader's
      // session ends at once.
      await signIn(page, cp.url, READER.email, READER.own);
      expect(new URL(page.url()).pathname).toBe('/worklist');
      await admin.page.goto(`${cp.url}/users`);
      admin.page.once('dialog', (d) => void d.accept());
      await Promise.all([
        admin.page.waitForURL(/\/users\/[0-9a-f-]{36}\/reset-password$/),
        admin.page.getByRole('button', { name: `Reset password of ${READER.email}` }).click(),
      ]);
      const temporary = ((await admin.page.locator('#temporary-password').textContent()) ?? '').trim();
      expect(temporary.length).toBeGreaterThanOrEqual(12);
      await page.goto(`${cp.url}/worklist`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await signIn(page, cp.url, READER.email, temporary);
      expect(new URL(page.url()).pathname).toBe('/account');
    } finally {
      await context.close();
    }
  });

  it("a reader of another group sees none of this group's studies and gets the 404 page on them", async () => {
    expect(studyUid, 'needs the stored study').not.toBe('');
    const group = await api('POST', '/api/v1/groups', {
      name: 'Other Hospital',
      admin: { email: OTHER_ADMIN.email, password: OTHER_ADMIN.password },
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    const otherSession = await cp.firstSignIn(OTHER_ADMIN.email, OTHER_ADMIN.password, OTHER_ADMIN.own);
    const made = await cp.api('POST', '/api/v1/users', {
      token: otherSession,
      body: { email: OTHER_READER.email, password: OTHER_READER.password, role: 'reader' },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    await cp.firstSignIn(OTHER_READER.email, OTHER_READER.password, OTHER_READER.own);
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, cp.url, OTHER_READER.email, OTHER_READER.own);
      await page.goto(`${cp.url}/worklist`);
      expect(await page.locator('tr[data-study-uid]').count()).toBe(0);
      expect(await page.locator('main').textContent()).toContain('No studies match.');
      await page.goto(`${cp.url}/worklist?q=FERRY`);
      expect(await page.locator('tr[data-study-uid]').count()).toBe(0);
      const res = await page.goto(`${cp.url}/studies/${encodeURIComponent(studyUid)}`);
      expect(res?.status()).toBe(404);
      expect(await page.locator('main').textContent()).not.toContain('FERRY');
      const zip = await page.goto(`${cp.url}/api/v1/studies/${encodeURIComponent(studyUid)}/download`);
      expect(zip?.status()).toBe(404);
      await screenshot(page, 'console-other-group');
    } finally {
      await context.close();
    }
  });

  it('every page passes axe-core with no serious or critical violations', async () => {
    expect(gatewayId && studyUid, 'needs the gateway and the study').toBeTruthy();
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${cp.url}/login`);
      await axeCheck(page, '/login');
      await signIn(page, cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
      const pages = [
        '/fleet',
        `/gateways/${gatewayId}`,
        '/facilities',
        '/facilities/new',
        `/facilities/${facilityId}`,
        '/worklist',
        `/studies/${encodeURIComponent(studyUid)}`,
        '/users',
        '/audit',
        '/account',
      ];
      for (const path of pages) {
        const res = await page.goto(`${cp.url}${path}`);
        expect(res?.status(), path).toBe(200);
        await axeCheck(page, path);
      }
      // The facility page with its one-time install command box.
      await page.goto(`${cp.url}/facilities/${facilityId}`);
      await page.getByRole('button', { name: 'Create enrollment token' }).click();
      await page.locator('#install-command').waitFor();
      await axeCheck(page, 'facility page with the install command');
      // A form showing its error.
      await page.goto(`${cp.url}/facilities/new`);
      await page.getByLabel('Name', { exact: true }).fill('Duplicate');
      await page.getByLabel('AE title').fill(FACILITY.aeTitle);
      await page.getByRole('button', { name: 'Create facility' }).click();
      await page.waitForLoadState();
      await axeCheck(page, 'facility form with a duplicate AE title error');
    } finally {
      await context.close();
    }
  });

  it('fleet and worklist fit a 390 px phone without sideways scrolling', async () => {
    const { context, page } = await newPage(browser, { viewport: PHONE });
    try {
      await signIn(page, cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
      for (const [path, name] of [
        ['/fleet', 'console-fleet-phone'],
        ['/worklist', 'console-worklist-phone'],
        [`/studies/${encodeURIComponent(studyUid)}`, 'console-study-phone'],
      ] as const) {
        await page.goto(`${cp.url}${path}`);
        const { scrollWidth, viewport } = await horizontalOverflow(page);
        expect(viewport).toBe(PHONE.width);
        expect(scrollWidth, `${path} is ${scrollWidth} px wide`).toBeLessThanOrEqual(PHONE.width + 1);
        await screenshot(page, name);
      }
    } finally {
      await context.close();
    }
  });

  it('from the gateway page an admin runs diagnostics on the live gateway and revokes it', async () => {
    expect(agent && gatewayId, 'needs the running agent').toBeTruthy();
    const { page } = admin;
    const gatewayPage = `${cp.url}/gateways/${gatewayId}`;
    const runAndWait = async (button: string, prepare?: () => Promise<void>) => {
      await page.goto(gatewayPage);
      await prepare?.();
      await Promise.all([
        page.waitForURL(/\/diagnostics\/[^/]+$/),
        page.getByRole('button', { name: button }).click(),
      ]);
      // The result page refreshes itself while the gateway works on it.
      const result = page.locator('[data-result]');
      await result.waitFor({ timeout: 30_000 });
      return {
        result: await result.getAttribute('data-result'),
        summary: ((await page.locator('#diag-summary').textContent()) ?? '').trim(),
      };
    };

    const upload = await runAndWait('Run upload test');
    expect(upload.result, upload.summary).toBe('ok');
    await axeCheck(page, 'diagnostic result');
    await screenshot(page, 'console-diagnostic-upload');

    // C-ECHO to the listed peer (the gateway's own listener, standing in for a PACS), chosen from a list.
    const echo = await runAndWait('Run C-ECHO', async () => {
      await page.getByLabel('Peer', { exact: true }).selectOption(OWN_LISTENER);
    });
    expect(echo.result, echo.summary).toBe('ok');
    expect(echo.summary).toMatch(new RegExp(`^C-ECHO from ${FACILITY.aeTitle} to ${OWN_LISTENER} `));

    const logs = await runAndWait('Get log bundle', async () => {
      await page.getByLabel('Lines').fill('50');
    });
    expect(logs.result, logs.summary).toBe('ok');
    expect(((await page.locator('#diag-lines').textContent()) ?? '').length).toBeGreaterThan(0);
    await screenshot(page, 'console-diagnostic-logs');

    // `ferry-agent start --port` wins over the desired port: the page says so, with the flag as the reason.
    await agent?.stop();
    const flagPort = await freePort();
    agent = await startAgent({ dataDir: agentDataDir, args: ['--port', String(flagPort)] });
    const override = page.locator('tr[data-override="port"]');
    await expect
      .poll(
        async () => {
          await page.goto(gatewayPage);
          return override.count();
        },
        { timeout: 10 * HEARTBEAT_SECONDS * 1000, interval: 1000 },
      )
      .toBe(1);
    const overrideText = (await override.textContent()) ?? '';
    expect(overrideText).toContain(String(dicomPort));
    expect(overrideText).toContain(String(flagPort));
    expect(overrideText).toContain('command-line flag --port');
    expect(await page.locator('code', { hasText: 'config.local_override' }).count()).toBe(1);
    // And the admin renames the gateway on the same page.
    await page.getByLabel('New name').fill('Reading room gateway');
    await Promise.all([
      page.waitForURL(/notice=renamed/),
      page.getByRole('button', { name: 'Rename gateway' }).click(),
    ]);
    expect(await page.locator('h1').textContent()).toBe('Gateway Reading room gateway');
    await axeCheck(page, 'gateway page with a local override, renamed');
    await publishScreenshot(await screenshot(page, 'console-gateway-local-override'), 'gateway');

    await page.goto(gatewayPage);
    page.once('dialog', (d) => void d.accept());
    await Promise.all([
      page.waitForURL(/\/gateways\//),
      page.getByRole('button', { name: 'Revoke gateway' }).click(),
    ]);
    await expect.poll(() => page.getByRole('status').allTextContents()).toContain('Gateway revoked');
    await screenshot(page, 'console-gateway-revoked');
    const api_ = await api<{ revokedAt: string | null }>('GET', `/api/v1/gateways/${gatewayId}`);
    expect(api_.body.revokedAt).not.toBeNull();
  });

  it('no page broke the Content-Security-Policy or logged a script error; the README screenshots change only when published', async () => {
    const cspErrorsBefore = consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e));
    const otherErrors = consoleErrors.filter((e) => !/Failed to load resource/.test(e));
    // The policy is live: an inline script is refused.
    await admin.page.goto(`${cp.url}/worklist`);
    await expect(admin.page.addScriptTag({ content: 'window.__inline = 1' })).rejects.toThrow(
      /Content Security Policy/,
    );
    expect(await admin.page.evaluate('window.__inline')).toBeUndefined();
    const headers = (await cp.fetch(`${cp.url}/login`)).headers;
    expect(headers.get('content-security-policy')).toContain("script-src 'self';");
    expect(headers.get('server-timing')).toMatch(/^app;dur=\d+\.\d$/);
    expect(cspErrorsBefore).toEqual([]);
    expect(otherErrors).toEqual([]);
    expect(fleetShot && worklistShot, 'the fleet and worklist journeys ran').toBeTruthy();
    // `npm run screenshots` publishes them; a plain test run leaves the tracked images untouched.
    expect(await publishScreenshot(fleetShot, 'fleet')).toBe(PUBLISH_SCREENSHOTS);
    expect(await publishScreenshot(worklistShot, 'worklist')).toBe(PUBLISH_SCREENSHOTS);
    if (!PUBLISH_SCREENSHOTS) expect(await readmeImages()).toEqual(readmeImagesBefore);
  });
});
