// config.local_override end to end in the control plane: a gateway on the channel reports a port in
// force that differs from the desired config it applied; the heartbeat is stored with the warning, the
// gateway turns degraded (fleet counts), and the API shows the condition and the override's details.
import { mergeGatewayConfig } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway, testHealth } from '../../../testkit/control-plane/channel-client.js';
import {
  type ChannelServer,
  serveTestAppWithChannel,
} from '../../../testkit/control-plane/channel-server.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { gatewayStatus } from '../db/schema/index.js';
import { appendConfigVersion } from '../services/gateway-config.js';

interface Detail {
  status: string;
  conditions: { code: string; severity: string; message: string }[];
  localOverrides: { setting: string; desired: unknown; inForce: unknown; source: string }[];
}

describe.each(BACKENDS)('local overrides over the channel (%s)', (backend) => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    server = await serveTestAppWithChannel(t, { heartbeatSeconds: 0.5, replicaId: 'replica-1' });
    g = await t.seedGroup('Overrides group');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  const detail = async (id: string) =>
    (await t.request<Detail>('GET', `/api/v1/gateways/${id}`, { token: g.reader.token })).body;
  const counts = async () =>
    (
      await t.request<{ gateways: { online: number; degraded: number } }>('GET', '/api/v1/fleet/summary', {
        token: g.admin.token,
      })
    ).body;

  it('a --port override is a warning condition, degrades the gateway and shows desired vs in force', async () => {
    const gw = await enrollTestGateway(t, g);
    const config = mergeGatewayConfig({ aeTitle: 'SITE', stablePeriodSeconds: 60 }, { port: 11112 }, {});
    await t.database.db.transaction((tx) => appendConfigVersion(tx, gw.gatewayId, config));
    const { client } = await connectGateway(server.channelUrl, gw, { configVersion: 1 });
    const base = testHealth({ configVersion: 1 });
    const agrees = {
      ...base,
      dicom: { ...base.dicom, aeTitle: 'SITE', port: 11112 },
      inForce: { maxAssociations: config.maxAssociations, allowedCallingAeTitles: [], flags: [] },
    };
    client.send({ type: 'heartbeat', seq: 1, health: agrees });
    await client.next('heartbeat.ack');
    expect((await detail(gw.gatewayId)).status).toBe('online');

    const overridden = {
      ...agrees,
      dicom: { ...agrees.dicom, port: 4105 },
      inForce: { ...agrees.inForce, flags: ['port' as const] },
    };
    client.send({ type: 'heartbeat', seq: 2, health: overridden });
    await client.next('heartbeat.ack');
    const d = await detail(gw.gatewayId);
    expect(d.status).toBe('degraded');
    expect(d.conditions).toContainEqual(
      expect.objectContaining({
        code: 'config.local_override',
        severity: 'warning',
        message: expect.stringContaining('port 4105 in force, 11112 desired (command-line flag --port)'),
      }),
    );
    expect(d.localOverrides).toEqual([{ setting: 'port', desired: 11112, inForce: 4105, source: 'flag' }]);
    const listed = await t.request<{ gateways: { id: string; conditions: { code: string }[] }[] }>(
      'GET',
      '/api/v1/gateways',
      { token: g.reader.token },
    );
    expect(listed.body.gateways.find((x) => x.id === gw.gatewayId)?.conditions.map((c) => c.code)).toContain(
      'config.local_override',
    );
    const summary = await counts();
    expect(summary.gateways.degraded).toBeGreaterThanOrEqual(1);

    // The flag gone (or the desired port matched): the warning clears with the next heartbeat.
    client.send({ type: 'heartbeat', seq: 3, health: agrees });
    await client.next('heartbeat.ack');
    const back = await detail(gw.gatewayId);
    expect(back.status).toBe('online');
    expect(back.localOverrides).toEqual([]);
    const [row] = await t.database.db
      .select({ health: gatewayStatus.health })
      .from(gatewayStatus)
      .where(eq(gatewayStatus.gatewayId, gw.gatewayId));
    expect(row?.health?.conditions.map((c) => c.code)).not.toContain('config.local_override');
    await client.close();
  });
});
