import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway } from '../../../../../testkit/control-plane/channel-client.js';
import {
  type ChannelServer,
  serveTestAppWithChannel,
} from '../../../../../testkit/control-plane/channel-server.js';
import { consoleGet, consolePost, signInConsole } from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';

describe.each(BACKENDS)('gateway page diagnostics over a live channel (%s)', (backend) => {
  let t: TestApp;
  let server: ChannelServer;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    server = await serveTestAppWithChannel(t);
    g = await t.seedGroup('Gateway diagnostics page');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('Run C-ECHO asks the gateway to reach the chosen peer, and the diagnostic page shows its answer', async () => {
    const f = await seedFacility(t, g);
    const gw = await enrollTestGateway(t, g, { hostname: 'gw-live', facilityId: f.facilityId });
    const peer = { name: 'Hospital PACS', aeTitle: 'PACS', host: 'pacs.hospital.example', port: 104 };
    const patched = await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: g.admin.token,
      body: { gateway: { peers: [peer] } },
    });
    expect(patched.status, patched.text).toBe(200);
    const { client } = await connectGateway(server.channelUrl, gw);
    try {
      const admin = await signInConsole(t, g.admin);
      // A name the gateway does not list (a stale page, a forged form) is refused on the page.
      const refused = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/echo`, admin, {
        peer: 'Somebody else',
        callingAeTitle: '',
      });
      expect(refused.status).toBe(400);
      expect(refused.html).toMatch(
        /role="alert">Could not start the diagnostic: peer &quot;Somebody else&quot; is not one of this gateway&#39;s DICOM peers/,
      );

      const started = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/echo`, admin, {
        peer: 'Hospital PACS',
        callingAeTitle: '',
      });
      expect(started.status, started.html.slice(0, 500)).toBe(303);
      const m = new RegExp(`^/gateways/${gw.gatewayId}/diagnostics/([0-9a-f-]{36})$`).exec(
        started.location ?? '',
      );
      expect(m).not.toBeNull();
      const asked = await client.next('diagnostic.request');
      expect(asked).toMatchObject({
        id: m![1],
        request: {
          kind: 'echo',
          peer: 'Hospital PACS',
          host: 'pacs.hospital.example',
          port: 104,
          calledAeTitle: 'PACS',
        },
      });

      const pending = await consoleGet(t, started.location!, admin);
      expect(pending.status).toBe(200);
      expect(pending.html).toContain('data-refresh-seconds="2"');
      expect(pending.html).toContain('C-ECHO to Hospital PACS (PACS at pacs.hospital.example:104)');

      client.send({
        type: 'diagnostic.result',
        id: asked.id,
        result: {
          ok: false,
          summary: 'association rejected by PACS',
          details: { status: 'rejected', ms: 8 },
          code: 'dicom.rejected',
        },
      });
      let done = pending;
      for (let i = 0; i < 50 && done.html.includes('data-refresh-seconds'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        done = await consoleGet(t, started.location!, admin);
      }
      expect(done.html).not.toContain('data-refresh-seconds');
      expect(done.html).toContain('data-state="done"');
      expect(done.html).toContain('data-result="failed"');
      expect(done.html).toContain('association rejected by PACS');
      expect(done.html).toContain('<code>dicom.rejected</code>');
      expect(done.html).toContain('<dt>ms</dt>');
    } finally {
      await client.close();
    }
  });
});
