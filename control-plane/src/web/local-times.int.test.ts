import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeCheck, chromiumPath, signIn } from '../../../test/harness/browser.js';
import {
  type ChannelServer,
  serveTestAppWithChannel,
} from '../../../testkit/control-plane/channel-server.js';
import { createTestApp, type SeededGroup, type TestApp } from '../../../testkit/control-plane/harness.js';
import { auditLog } from '../db/schema/index.js';

describe('times and day filters in the viewer’s time zone, in Chromium', () => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Time zone group');
    await t.database.db.insert(auditLog).values({
      groupId: g.groupId,
      actorType: 'system',
      action: 'test.evening',
      at: new Date('2026-12-07T20:30:00Z'),
    });
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('shows the audit time as YYYY-MM-DD HH:MM in Tokyo time, and filters by the Tokyo day typed the same way', async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo' });
      const page = await context.newPage();
      await signIn(page, server.url, g.admin.email, g.admin.password);
      await page.goto(`${server.url}/audit?action=test.evening`);
      const when = page.locator('td[data-label="When"] time');
      await expect(when.textContent()).resolves.toBe('2026-12-08 05:30');
      await expect(when.getAttribute('title')).resolves.toBe('2026-12-07T20:30:00.000Z');

      // The 8th in Tokyo holds it, though it is the 7th in UTC.
      await page.getByLabel('From').fill('2026-12-08');
      await page.getByLabel('To').fill('2026-12-08');
      await Promise.all([page.waitForURL(/tz=540/), page.getByRole('button', { name: 'Filter' }).click()]);
      await expect(when.textContent()).resolves.toBe('2026-12-08 05:30');
      await expect(page.getByLabel('From').getAttribute('placeholder')).resolves.toBe('YYYY-MM-DD');
      expect(await axeCheck(page, 'audit page with day filters')).toEqual([]);

      await page.goto(`${server.url}/worklist`);
      await expect(page.getByLabel('From').getAttribute('placeholder')).resolves.toBe('YYYY-MM-DD');
      expect(await axeCheck(page, 'worklist with day filters')).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
