import { eq } from 'drizzle-orm';
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
  seedFacility,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { healthReport, seedGatewayStatus } from '../../../../../testkit/control-plane/seed-gateway-status.js';
import { facilities } from '../../../db/schema/index.js';

describe('AE title change with an alias in Chromium', () => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Alias journey');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('changes the title keeping the old one, then shows who still calls it on the gateway page, axe-clean', async () => {
    const f = await seedFacility(t, g, { name: 'CT wing', aeTitle: 'CT_OLD' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const browser = await launchBrowser();
    try {
      const { page } = await newPage(browser);
      await signIn(page, server.url, g.admin.email, g.admin.password);
      await page.goto(`${server.url}/facilities/${f.facilityId}`);
      const keep = page.getByRole('checkbox', { name: 'Keep accepting CT_OLD as an alias for 7 days' });
      expect(await keep.isChecked()).toBe(true);
      await page.getByLabel('AE title', { exact: true }).fill('CT_NEW');
      await page.getByRole('button', { name: 'Save' }).first().click();
      await page.waitForURL(/notice=saved/);
      await expect(
        page.getByRole('list', { name: 'AE title aliases still accepted' }).textContent(),
      ).resolves.toMatch(/CT_OLD accepted until/);
      expect(await axeCheck(page, 'facility page with an AE title alias')).toEqual([]);
      const [row] = await t.database.db.select().from(facilities).where(eq(facilities.id, f.facilityId));
      const alias = row!.aeTitleAliases[0]!;

      const base = healthReport();
      await seedGatewayStatus(t.database.db, gw.gatewayId, {
        status: 'online',
        health: {
          ...base,
          dicom: {
            ...base.dicom,
            aeTitleAliases: [{ ...alias, associations: 2, lastAt: new Date().toISOString() }],
          },
        },
      });
      await page.goto(`${server.url}/gateways/${gw.gatewayId}`);
      const table = page.getByRole('table', { name: 'Old AE titles still accepted' });
      await expect(table.locator('tbody tr').textContent()).resolves.toMatch(/^CT_OLD.*2/);
      expect(await axeCheck(page, 'gateway page with AE title aliases')).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
