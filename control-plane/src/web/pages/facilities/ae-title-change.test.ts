import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { healthReport, seedGatewayStatus } from '../../../../../testkit/control-plane/seed-gateway-status.js';
import { facilities } from '../../../db/schema/index.js';

describe.each(BACKENDS)('console AE title change with an alias (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let admin: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Alias console');
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  const aliasesOf = async (id: string) =>
    (await t.database.db.select().from(facilities).where(eq(facilities.id, id)))[0]?.aeTitleAliases;

  it('warns beside the AE title and keeps the old one as an alias unless unticked', async () => {
    const f = await seedFacility(t, g, { name: 'CT wing', aeTitle: 'CT_A' });
    const page = await consoleGet(t, `/facilities/${f.facilityId}`, admin);
    expect(page.html).toContain('Modalities still configured to send to <code>CT_A</code> are refused');
    expect(page.html).toMatch(/<input type="checkbox" name="keepOldAeTitle" value="on" checked=""/);

    const saved = await consolePost(t, `/facilities/${f.facilityId}`, admin, {
      name: 'CT wing',
      aeTitle: 'CT_B',
      stablePeriodSeconds: '60',
      keepOldAeTitle: 'on',
    });
    expect(saved.status, saved.html).toBe(303);
    const [alias] = (await aliasesOf(f.facilityId)) ?? [];
    expect(alias?.aeTitle).toBe('CT_A');
    const after = await consoleGet(t, `/facilities/${f.facilityId}`, admin);
    expect(after.html).toMatch(/<li><code>CT_A<\/code> accepted until <time datetime="[^"]+"[^>]*>/);

    // Unticked: the next change keeps no alias for CT_B; CT_A's stays until it expires.
    await consolePost(t, `/facilities/${f.facilityId}`, admin, {
      name: 'CT wing',
      aeTitle: 'CT_C',
      stablePeriodSeconds: '60',
    });
    expect((await aliasesOf(f.facilityId))?.map((a) => a.aeTitle)).toEqual(['CT_A']);
  });

  it("shows a clash with another facility's alias under the AE title", async () => {
    const holder = await seedFacility(t, g, { name: 'MR wing', aeTitle: 'MR_A' });
    await consolePost(t, `/facilities/${holder.facilityId}`, admin, {
      name: 'MR wing',
      aeTitle: 'MR_B',
      stablePeriodSeconds: '60',
      keepOldAeTitle: 'on',
    });
    const f = await seedFacility(t, g, { name: 'US wing', aeTitle: 'US_A' });
    const res = await consolePost(t, `/facilities/${f.facilityId}`, admin, {
      name: 'US wing',
      aeTitle: 'MR_A',
      stablePeriodSeconds: '60',
      keepOldAeTitle: 'on',
    });
    expect(res.status).toBe(400);
    expect(res.html).toContain(
      'AE title &quot;MR_A&quot; is still accepted as an alias by facility &quot;MR wing&quot;',
    );
  });

  it('counts the associations still calling each alias on the gateway page', async () => {
    const f = await seedFacility(t, g, { name: 'XA wing', aeTitle: 'XA_B' });
    const gw = await enrollTestGateway(t, g, { facilityId: f.facilityId });
    const quiet = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(quiet.html).not.toContain('Old AE titles still accepted');
    const base = healthReport();
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'online',
      health: {
        ...base,
        dicom: {
          ...base.dicom,
          aeTitleAliases: [
            {
              aeTitle: 'XA_A',
              expiresAt: '2026-12-14T10:00:00.000Z',
              associations: 3,
              lastAt: '2026-12-07T09:00:00.000Z',
            },
            { aeTitle: 'XA_0', expiresAt: '2026-12-10T10:00:00.000Z', associations: 0, lastAt: null },
          ],
        },
      },
    });
    const res = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(res.html).toContain('<h2 id="gw-aliases">Old AE titles still accepted</h2>');
    expect(res.html).toMatch(/<tr data-alias="XA_A">.*<td data-label="Associations">3<\/td>/s);
    expect(res.html).toContain(
      '<td data-label="Associations">0<span class="muted"> (no modality calls it)</span>',
    );
  });
});
