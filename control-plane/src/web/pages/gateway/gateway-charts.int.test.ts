import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeCheck, launchBrowser, newPage, signIn } from '../../../../../test/harness/browser.js';
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
import { gatewaySeries } from '../../../db/schema/index.js';

describe('gateway page charts in Chromium', () => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Charts group');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('draws each chart with uPlot and the fleet sparkline under the strict CSP, with their numbers as text, axe-clean', async () => {
    const gw = await enrollTestGateway(t, g, { hostname: 'gw-charts' });
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    await t.database.db.insert(gatewaySeries).values(
      [10, 5, 1].map((ago, i) => ({
        gatewayId: gw.gatewayId,
        resolution: 'minute' as const,
        bucket: new Date(minute - ago * 60_000),
        samples: 2,
        received: 30 + i,
        delivered: 20,
        backlogCount: 40 - i * 10,
        backlogCountMax: 40,
        oldestUnsentSeconds: 120,
        latencyMsSum: 20 * 1500,
        latencyCount: 20,
      })),
    );
    const browser = await launchBrowser();
    try {
      const { page } = await newPage(browser);
      const cspErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') cspErrors.push(m.text());
      });
      await signIn(page, server.url, g.admin.email, g.admin.password);
      await page.goto(`${server.url}/gateways/${gw.gatewayId}?range=1h`);
      // uPlot draws a canvas into each of the five plots.
      await page.locator('.chart-plot canvas').nth(4).waitFor();
      expect(await page.locator('.chart-plot canvas').count()).toBe(5);
      await expect(page.locator('[data-summary="backlog"]').textContent()).resolves.toBe(
        'Latest 20, lowest 20, highest 40.',
      );
      await page.getByText('Received per minute as a table').click();
      const rows = page.getByRole('table').filter({ hasText: 'Received per minute' }).locator('tbody tr');
      expect(await rows.count()).toBe(3);
      await expect(rows.nth(2).textContent()).resolves.toMatch(/32\/min$/);
      expect(cspErrors).toEqual([]);
      expect(await axeCheck(page, 'gateway page with charts')).toEqual([]);

      // The fleet row's 24-hour sparkline (throughput and backlog) says its numbers in words too.
      await page.goto(`${server.url}/fleet`);
      const row = page.locator(`tr[data-gateway-id="${gw.gatewayId}"]`);
      await expect(row.locator('svg.sparkline polyline').count()).resolves.toBe(2);
      await expect(row.locator('td[data-label="Last 24 h"] .visually-hidden').textContent()).resolves.toMatch(
        /^Last 24 hours: delivered .* per minute .*; backlog \d+ to \d+ objects \(latest 20\)\.$/,
      );
      expect(cspErrors).toEqual([]);
      expect(await axeCheck(page, 'fleet page with sparklines')).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
