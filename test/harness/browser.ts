// Headless Chromium for the console's browser journeys: Debian's `chromium` package driven by
// playwright-core (no downloaded browser). One browser per test file, one context per journey.
//
// With CI=true a missing Chromium fails the tests with an install hint; it never skips them.
import { accessSync, constants, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { repoRoot } from './corpus.js';

export const ARTIFACTS_DIR = join(repoRoot, 'test', 'artifacts');
export const SCREENSHOTS_DIR = join(repoRoot, 'docs', 'screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const CANDIDATES = [process.env.FERRY_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium binary; throws with the install hint when there is none (the tests never skip). */
export function chromiumPath(): string {
  for (const c of CANDIDATES) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // keep looking
    }
  }
  throw new Error(
    'Chromium was not found (looked at FERRY_CHROMIUM, /usr/bin/chromium, /usr/bin/chromium-browser). ' +
      "The console's browser tests need it: install Debian's package with `apt-get install -y chromium` " +
      '(.ci/run does this).',
  );
}

/** Launches headless Chromium (as root in CI, hence --no-sandbox). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/**
 * A fresh context (its own cookies) and page at the desktop size, or the phone size. The clipboard
 * is granted for `origin` so copy buttons work as they do for a person.
 */
export async function newPage(
  browser: Browser,
  opts: { origin?: string; viewport?: { width: number; height: number }; acceptDownloads?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? DESKTOP,
    acceptDownloads: opts.acceptDownloads ?? true,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  if (opts.origin)
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: opts.origin });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return { context, page };
}

/** Signs in through the login page and waits for the landing page. */
export async function signIn(page: Page, baseUrl: string, email: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/login')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** Saves a full-page screenshot as test/artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * `npm run screenshots` sets this: only then do the README's images change. A plain `npm test` must
 * leave tracked files alone (its screenshots stay in test/artifacts for inspection).
 */
export const PUBLISH_SCREENSHOTS = process.env.FERRY_PUBLISH_SCREENSHOTS === '1';

/** The README's image `as` (docs/screenshots/<as>.png). */
export function publishedScreenshot(as: string): string {
  return join(SCREENSHOTS_DIR, `${as}.png`);
}

/**
 * Copies an artifact screenshot to docs/screenshots/<as>.png (the README's images) when publishing
 * (PUBLISH_SCREENSHOTS); otherwise does nothing and returns false.
 */
export async function publishScreenshot(artifact: string, as: string): Promise<boolean> {
  if (!PUBLISH_SCREENSHOTS) return false;
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  await copyFile(artifact, publishedScreenshot(as));
  return true;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/**
 * Runs axe-core on the page as it is now and throws when any violation is serious or critical, listing
 * them (rule, help, the first elements). Returns every violation (minor and moderate ones included).
 *
 * The scan runs under the console's real CSP: page.addScriptTag would add an inline <script>, which
 * `script-src 'self'` blocks (as it should), so axe's source goes in through page.evaluate (the
 * DevTools protocol, which the page's CSP does not govern). No bypassCSP anywhere.
 */
export async function axeCheck(page: Page, what = page.url()): Promise<AxeViolation[]> {
  if (!(await page.evaluate("typeof window.axe === 'object'"))) await page.evaluate(`${axeSource}\n;0`);
  const violations = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, failureSummary: n.failureSummary })),
    })))`,
  )) as AxeViolation[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length > 0)
    throw new Error(
      `accessibility violations on ${what}:\n${bad
        .map(
          (v) =>
            `- [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary ?? ''}`).join('\n')}`,
        )
        .join('\n')}`,
    );
  return violations;
}

/** The page's document is no wider than its viewport (no sideways scrolling on a phone). */
export async function horizontalOverflow(page: Page): Promise<{ scrollWidth: number; viewport: number }> {
  return (await page.evaluate(
    '({ scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth })',
  )) as { scrollWidth: number; viewport: number };
}

/**
 * Console errors and CSP violations the page reported, collected from now on: a blocked inline
 * script or style shows up here.
 */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}
