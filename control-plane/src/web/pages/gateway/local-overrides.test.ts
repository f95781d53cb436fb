import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import {
  condition,
  healthReport,
  seedGatewayStatus,
} from '../../../../../testkit/control-plane/seed-gateway-status.js';
import { configVersions } from '../../../db/schema/index.js';

describe.each(BACKENDS)('gateway page: local overrides (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let admin: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Overrides page group');
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function gatewayReporting(port: number, flags: ('port' | 'aeTitle')[], configVersion = 1) {
    const gw = await enrollTestGateway(t, g);
    await t.database.db
      .insert(configVersions)
      .values({ gatewayId: gw.gatewayId, version: 1, config: { aeTitle: 'TEST', port: 4104 } });
    const base = healthReport({ configVersion, conditions: [condition('config.local_override', 'warning')] });
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'degraded',
      health: {
        ...base,
        dicom: { ...base.dicom, aeTitle: 'TEST', port },
        inForce: { maxAssociations: 32, allowedCallingAeTitles: [], flags },
      },
    });
    return gw.gatewayId;
  }

  it('lists the setting, desired and in force values and the reason', async () => {
    const id = await gatewayReporting(4105, ['port']);
    const page = await consoleGet(t, `/gateways/${id}`, admin);
    expect(page.status).toBe(200);
    expect(page.html).toContain('win over its desired config');
    const row = /<tr data-override="port">([\s\S]*?)<\/tr>/.exec(page.html)?.[1] ?? '';
    expect(row).toContain('<code>4104</code>');
    expect(row).toContain('<code>4105</code>');
    expect(row).toContain('command-line flag --port');
    expect(page.html).toContain('<code>config.local_override</code>');
  });

  it('says nothing when what is in force is desired, or while another version is on its way', async () => {
    for (const id of [await gatewayReporting(4104, []), await gatewayReporting(4105, ['port'], 0)]) {
      const page = await consoleGet(t, `/gateways/${id}`, admin);
      expect(page.html).not.toContain('data-override=');
    }
  });
});
