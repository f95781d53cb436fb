import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeCheck,
  horizontalOverflow,
  launchBrowser,
  newPage,
  PHONE,
  signIn,
} from '../../../../../test/harness/browser.js';
import {
  type ChannelServer,
  serveTestAppWithChannel,
} from '../../../../../testkit/control-plane/channel-server.js';
import {
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { healthReport, seedGatewayStatus } from '../../../../../testkit/control-plane/seed-gateway-status.js';

describe('gateway page upload compression in Chromium', () => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Coding report group');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('shows the coding, its reason and the ratio by modality, on a desktop and a phone, axe-clean', async () => {
    const gw = await enrollTestGateway(t, g, { hostname: 'gw-coding' });
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'online',
      health: healthReport({
        compression: {
          mode: 'auto',
          coding: 'zstd',
          reason: 'slow_uplink',
          drainBytesPerSecond: 52_428_800,
          lastDrainBytesPerSecond: 52_428_800,
          codecBytesPerSecond: 41_943_040,
          byModality: [
            {
              modality: 'MR',
              instances: 30,
              rawBytes: 12 * 1024 * 1024,
              sealedBytes: 4 * 1024 * 1024,
              jpeglsFrames: 30,
              fallbackFrames: 0,
              codecMs: 400,
            },
            {
              modality: '',
              instances: 2,
              rawBytes: 4096,
              sealedBytes: 4096,
              jpeglsFrames: 0,
              fallbackFrames: 2,
              codecMs: 0,
            },
          ],
        },
      }),
    });
    const browser = await launchBrowser();
    try {
      for (const viewport of [undefined, PHONE]) {
        const { page, context } = await newPage(browser, viewport ? { viewport } : {});
        await signIn(page, server.url, g.admin.email, g.admin.password);
        await page.goto(`${server.url}/gateways/${gw.gatewayId}`);
        const section = page.getByRole('region', { name: 'Upload compression' });
        await expect(section.locator('[data-coding="choice"]').textContent()).resolves.toBe(
          'zstd: the backlog drains slowly, and the codec would hold a faster link back',
        );
        await expect(section.locator('[data-coding="link"]').textContent()).resolves.toBe('50 MiB/s');
        const table = section.getByRole('table', { name: 'Compression by modality' });
        const mr = table.locator('tr[data-modality="MR"]');
        await expect(mr.locator('td[data-label="Ratio"]').textContent()).resolves.toBe('3.0:1');
        await expect(mr.locator('td[data-label="Sent"]').textContent()).resolves.toBe('4 MiB');
        const none = table.locator('tr[data-modality=""]');
        await expect(none.locator('td[data-label="JPEG-LS bands"]').textContent()).resolves.toBe(
          '0 (2 fell back to zstd)',
        );
        const { scrollWidth, viewport: width } = await horizontalOverflow(page);
        expect(scrollWidth).toBeLessThanOrEqual(width);
        expect(
          await axeCheck(page, `gateway page with upload compression (${viewport ? 'phone' : 'desktop'})`),
        ).toEqual([]);
        await context.close();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
});
