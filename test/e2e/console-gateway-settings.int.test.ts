// Gateway settings from the console, in Chromium against a real control plane and agent: an admin sets
// a facility's DICOM port, transfer-syntax policy and upload compression on the facility page, sees a bad port refused as
// typed in the API's own words, saves, and the running gateway re-binds to the new port with the new
// policy. The facility page and the Gateway defaults page pass axe-core; `npm run screenshots` makes
// their screenshots the README's (docs/screenshots/facility-settings.png, gateway-defaults.png).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeCheck,
  collectConsoleErrors,
  launchBrowser,
  newPage,
  publishScreenshot,
  screenshot,
  signIn,
} from '../harness/browser.js';
import { CLOUD_ADMIN, type Cloud, type GatewayView, startCloud } from '../harness/cloud.js';
import { echoscu, freePort } from '../harness/dcmtk.js';

let cloud: Cloud;
let browser: Browser;
let page: Page;
let consoleErrors: string[];

beforeAll(async () => {
  cloud = await startCloud({
    name: 'console-settings',
    aeTitle: 'SETTINGS',
    // Heartbeats every second: the upload compression mode in force is read back from one.
    env: { FERRY_HEARTBEAT_SECONDS: '1' },
  });
  browser = await launchBrowser();
  ({ page } = await newPage(browser, { origin: cloud.cp.url }));
  consoleErrors = collectConsoleErrors(page);
  await signIn(page, cloud.cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cloud?.close();
});

describe('gateway settings in the console', () => {
  it("an admin moves a facility's gateway to another port, policy and upload compression; a bad port is refused as typed in the API's words", async () => {
    await page.goto(`${cloud.cp.url}/facilities/${cloud.facilityId}`);
    const port = page.getByLabel('DICOM port');
    const portError = page.locator('#setting-port-error');

    // The API's own words for that value, to compare with what the form says live.
    const api = await cloud.cp.api<{ error: { message: string } }>(
      'PATCH',
      `/api/v1/facilities/${cloud.facilityId}`,
      {
        token: cloud.session,
        body: { gateway: { port: 70000 } },
      },
    );
    expect(api.status).toBe(400);
    const words = api.body.error.message.replace(/^gateway\.port: /, '');

    await port.fill('70000');
    await expect.poll(() => portError.textContent(), { timeout: 5000 }).toBe(words);
    expect(await port.getAttribute('aria-invalid')).toBe('true');
    await axeCheck(page, 'facility page with a live settings error');

    const newPort = await freePort();
    await port.fill(String(newPort));
    await expect.poll(() => portError.count(), { timeout: 5000 }).toBe(0);
    await page.getByLabel('Transfer syntax policy').selectOption('prefer-uncompressed');
    await expect
      .poll(() => page.locator('[data-setting="transferSyntaxPolicy"] [data-own]').isChecked())
      .toBe(true);
    await page.getByLabel('Upload compression').selectOption('zstd');
    await Promise.all([
      page.waitForURL(/notice=settings-saved/),
      page.getByRole('button', { name: 'Save gateway settings' }).first().click(),
    ]);
    expect(await page.locator('#setting-port-source').textContent()).toContain('Own value.');
    await axeCheck(page, 'facility page with its own gateway settings');
    await publishScreenshot(await screenshot(page, 'console-facility-settings'), 'facility-settings');

    // The pushed config reaches the running gateway: it answers on the new port, with the new policy.
    await expect
      .poll(
        async () => {
          const c = await cloud.agentConfig();
          return `${c.port} ${c.transferSyntaxPolicy}`;
        },
        { timeout: 20_000 },
      )
      .toBe(`${newPort} prefer-uncompressed`);
    // upload.compression too: agent.json holds it, and the gateway reports the spool coding by it.
    expect((await cloud.agentConfig()).upload).toMatchObject({ compression: 'zstd' });
    const gatewayId = String((await cloud.agentConfig()).gatewayId);
    const coded = await cloud.waitForGateway<
      GatewayView & { health: { compression?: { mode: string; reason: string } } | null }
    >(gatewayId, (g) => g.health?.compression?.mode === 'zstd', 'reported upload compression zstd');
    expect(coded.health?.compression?.reason).toBe('forced');
    await expect
      .poll(async () => (await echoscu({ port: newPort, calledAe: 'SETTINGS', timeoutMs: 5000 })).code, {
        timeout: 10_000,
      })
      .toBe(0);

    // The group's page says which gateways a change of each setting reaches.
    await page.goto(`${cloud.cp.url}/settings/gateways`);
    expect(await page.locator('#setting-port-reach').textContent()).toBe(
      'A change reaches 0 gateways of 1; 1 facility overrides it.',
    );
    await axeCheck(page, 'Gateway defaults page');
    await publishScreenshot(await screenshot(page, 'console-gateway-defaults'), 'gateway-defaults');
    expect(consoleErrors).toEqual([]);
  });
});
