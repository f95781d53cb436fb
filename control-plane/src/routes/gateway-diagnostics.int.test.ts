import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway } from '../../../testkit/control-plane/channel-client.js';
import {
  type ChannelServer,
  openSecondReplicaDatabase,
  serveTestAppWithChannel,
} from '../../../testkit/control-plane/channel-server.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, gatewayDiagnostics, gatewayEvents } from '../db/schema/index.js';
import { startGatewayLiveness } from '../jobs/gateway-liveness.js';

const PACS = { name: 'Hospital PACS', aeTitle: 'PACS', host: 'pacs.hospital.example', port: 104 };
const CT = { name: 'CT 1', aeTitle: 'CT1', host: '10.20.30.40', port: 11112, tls: true };

interface DiagnosticBody {
  id: string;
  state: string;
  request: Record<string, unknown>;
  result: { ok: boolean; summary: string; details?: Record<string, unknown> } | null;
  createdAt: string;
  completedAt: string | null;
}

describe.each(BACKENDS)('gateway diagnostics over the channel (%s)', (backend) => {
  let t: TestApp;
  let server: ChannelServer;
  let a: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    server = await serveTestAppWithChannel(t);
    a = await t.seedGroup('Group A');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  /** A gateway whose facility lists `peers` (set through the API, as an admin would). */
  async function gatewayWithPeers(peers: unknown[]): Promise<TestGateway> {
    const f = await seedFacility(t, a);
    const gw = await enrollTestGateway(t, a, { facilityId: f.facilityId });
    const patched = await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: a.admin.token,
      body: { gateway: { peers } },
    });
    expect(patched.status, patched.text).toBe(200);
    return gw;
  }

  it('runs a C-ECHO to a listed peer on the gateway and returns its result to the admin', async () => {
    const gw = await gatewayWithPeers([PACS]);
    const { client } = await connectGateway(server.channelUrl, gw);
    const started = await t.request<{ id: string; state: string }>(
      'POST',
      `/api/v1/gateways/${gw.gatewayId}/diagnostics`,
      { token: a.admin.token, body: { kind: 'echo', peer: 'Hospital PACS' } },
    );
    expect(started.status, started.text).toBe(202);
    expect(started.body.state).toBe('pending');
    // Stored and sent with every field of the peer, which the gateway checks against its own list.
    const request = {
      kind: 'echo',
      peer: 'Hospital PACS',
      host: 'pacs.hospital.example',
      port: 104,
      calledAeTitle: 'PACS',
      tls: false,
    };
    const asked = await client.next('diagnostic.request');
    expect(asked).toMatchObject({ id: started.body.id, request });
    const [sent] = await t.database.db
      .select()
      .from(gatewayDiagnostics)
      .where(eq(gatewayDiagnostics.id, asked.id));
    expect(sent?.state).toBe('sent');

    // The admin waits once; the gateway answers meanwhile.
    const waiting = t.request<DiagnosticBody>(
      'GET',
      `/api/v1/gateways/${gw.gatewayId}/diagnostics/${asked.id}?waitSeconds=10`,
      { token: a.admin.token },
    );
    await new Promise((r) => setTimeout(r, 300));
    client.send({
      type: 'diagnostic.result',
      id: asked.id,
      result: {
        ok: true,
        summary: 'C-ECHO PACS@pacs.hospital.example:104 succeeded',
        details: { status: 0, ms: 12 },
      },
    });
    const done = await waiting;
    expect(done.status, done.text).toBe(200);
    expect(done.body).toMatchObject({
      id: asked.id,
      state: 'done',
      request,
      result: { ok: true, details: { status: 0, ms: 12 } },
    });
    expect(done.body.completedAt).not.toBeNull();
    const events = await t.database.db
      .select()
      .from(gatewayEvents)
      .where(and(eq(gatewayEvents.gatewayId, gw.gatewayId), eq(gatewayEvents.type, 'diagnostic')));
    expect(events.map((e) => e.details)).toEqual([{ diagnosticId: asked.id, kind: 'echo', ok: true }]);
    const audit = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'gateway.diagnostic'), eq(auditLog.targetId, gw.gatewayId)));
    expect(audit.map((r) => r.details)).toEqual([
      { diagnosticId: asked.id, kind: 'echo', peer: 'Hospital PACS' },
    ]);
    // A second answer to the same diagnostic is refused.
    client.send({ type: 'diagnostic.result', id: asked.id, result: { ok: false, summary: 'again' } });
    expect((await client.next('error')).code).toBe('resource.not_found');
    await client.close();
  });

  it('names a listed peer by its host and port too (and AE title, TLS), matching exactly', async () => {
    const gw = await gatewayWithPeers([PACS, CT]);
    const { client } = await connectGateway(server.channelUrl, gw);
    for (const body of [
      { kind: 'echo', host: 'PACS.Hospital.Example', port: 104 },
      {
        kind: 'echo',
        host: '10.20.30.40',
        port: 11112,
        calledAeTitle: 'CT1',
        tls: true,
        callingAeTitle: 'ME',
      },
    ]) {
      const started = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
        token: a.admin.token,
        body,
      });
      expect(started.status, started.text).toBe(202);
    }
    expect((await client.next('diagnostic.request')).request).toEqual({
      kind: 'echo',
      peer: 'Hospital PACS',
      host: 'pacs.hospital.example',
      port: 104,
      calledAeTitle: 'PACS',
      tls: false,
    });
    expect((await client.next('diagnostic.request')).request).toEqual({
      kind: 'echo',
      peer: 'CT 1',
      host: '10.20.30.40',
      port: 11112,
      calledAeTitle: 'CT1',
      tls: true,
      callingAeTitle: 'ME',
    });
    await client.close();
  });

  it('refuses an echo to anything but a listed peer (400 diagnostic.peer_not_listed) and asks the gateway nothing', async () => {
    const gw = await gatewayWithPeers([PACS, CT]);
    const bare = await enrollTestGateway(t, a);
    const { client } = await connectGateway(server.channelUrl, gw);
    const { client: bareClient } = await connectGateway(server.channelUrl, bare);
    const cases: [TestGateway, Record<string, unknown>][] = [
      [gw, { kind: 'echo', host: '10.0.0.5', port: 22 }],
      [gw, { kind: 'echo', host: '169.254.169.254', port: 80 }],
      [gw, { kind: 'echo', peer: 'Somebody' }],
      // A listed name with another port, or a listed host and port with another AE title or TLS.
      [gw, { kind: 'echo', peer: 'Hospital PACS', host: 'pacs.hospital.example', port: 22 }],
      [gw, { kind: 'echo', host: 'pacs.hospital.example', port: 104, calledAeTitle: 'CT1' }],
      [gw, { kind: 'echo', host: '10.20.30.40', port: 11112, tls: false }],
      // A gateway without peers may not echo at all.
      [bare, { kind: 'echo', host: 'pacs.hospital.example', port: 104 }],
    ];
    for (const [target, body] of cases) {
      const res = await t.request('POST', `/api/v1/gateways/${target.gatewayId}/diagnostics`, {
        token: a.admin.token,
        body,
      });
      const err = expectError(res, 400, 'diagnostic.peer_not_listed');
      expect(err.error.message).toMatch(/is not one of this gateway's DICOM peers/);
    }
    const stored = await t.database.db
      .select()
      .from(gatewayDiagnostics)
      .where(inArray(gatewayDiagnostics.gatewayId, [gw.gatewayId, bare.gatewayId]));
    expect(stored).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(
      [...client.received, ...bareClient.received].filter((m) => m.type === 'diagnostic.request'),
    ).toEqual([]);
    await client.close();
    await bareClient.close();
  });

  it('refuses a gateway without a live channel (409 gateway.offline)', async () => {
    const gw = await enrollTestGateway(t, a);
    const res = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
      token: a.admin.token,
      body: { kind: 'logs', lines: 100 },
    });
    expectError(res, 409, 'gateway.offline');
    const { client } = await connectGateway(server.channelUrl, gw);
    await client.close();
    await new Promise((r) => setTimeout(r, 200));
    expectError(
      await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
        token: a.admin.token,
        body: { kind: 'logs' },
      }),
      409,
      'gateway.offline',
    );
  });

  it('refuses an invalid request body (400 request.invalid)', async () => {
    const gw = await enrollTestGateway(t, a);
    const res = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
      token: a.admin.token,
      body: { kind: 'echo', host: 'pacs', port: 70000 },
    });
    expectError(res, 400, 'request.invalid');
    const neither = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
      token: a.admin.token,
      body: { kind: 'echo', calledAeTitle: 'PACS' },
    });
    expect(expectError(neither, 400, 'request.invalid').error.message).toMatch(/name a listed peer/);
  });

  it('a diagnostic nobody answers reads as expired, and the liveness job marks it so', async () => {
    const gw = await enrollTestGateway(t, a);
    const { client } = await connectGateway(server.channelUrl, gw);
    const started = await t.request<{ id: string }>('POST', `/api/v1/gateways/${gw.gatewayId}/diagnostics`, {
      token: a.admin.token,
      body: { kind: 'upload-test' },
    });
    await client.next('diagnostic.request');
    const short = await t.request<DiagnosticBody>(
      'GET',
      `/api/v1/gateways/${gw.gatewayId}/diagnostics/${started.body.id}?waitSeconds=0.5`,
      { token: a.admin.token },
    );
    expect(short.body.state).toBe('sent');
    await t.database.db
      .update(gatewayDiagnostics)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(gatewayDiagnostics.id, started.body.id));
    const read = await t.request<DiagnosticBody>(
      'GET',
      `/api/v1/gateways/${gw.gatewayId}/diagnostics/${started.body.id}?waitSeconds=5`,
      { token: a.admin.token },
    );
    expect(read.body.state).toBe('expired');
    const job = startGatewayLiveness({
      db: t.database.db,
      log: t.deps.log,
      heartbeatSeconds: 0.5,
      intervalMs: 100,
    });
    try {
      const deadline = Date.now() + 3000;
      let state = 'sent';
      while (state !== 'expired' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const [row] = await t.database.db
          .select()
          .from(gatewayDiagnostics)
          .where(eq(gatewayDiagnostics.id, started.body.id));
        state = row!.state;
      }
      expect(state).toBe('expired');
    } finally {
      await job.stop();
    }
    client.send({ type: 'diagnostic.result', id: started.body.id, result: { ok: true, summary: 'late' } });
    expect((await client.next('error')).code).toBe('resource.not_found');
    await client.close();
  });

  if (backend === 'postgres') {
    it('works when the gateway is connected to another replica', async () => {
      const database2 = await openSecondReplicaDatabase(t);
      const replica2 = await serveTestAppWithChannel(t, { database: database2, replicaId: 'replica-2' });
      try {
        const gw = await enrollTestGateway(t, a);
        const { client } = await connectGateway(replica2.channelUrl, gw);
        // Asked through replica 1 (this app, its own connections).
        const started = await t.request<{ id: string }>(
          'POST',
          `/api/v1/gateways/${gw.gatewayId}/diagnostics`,
          {
            token: a.admin.token,
            body: { kind: 'logs', lines: 10 },
          },
        );
        expect(started.status).toBe(202);
        const asked = await client.next('diagnostic.request');
        expect(asked.id).toBe(started.body.id);
        client.send({
          type: 'diagnostic.result',
          id: asked.id,
          result: { ok: true, summary: '10 lines', details: { lines: [] } },
        });
        const done = await t.request<DiagnosticBody>(
          'GET',
          `/api/v1/gateways/${gw.gatewayId}/diagnostics/${asked.id}?waitSeconds=5`,
          { token: a.admin.token },
        );
        expect(done.body).toMatchObject({ state: 'done', result: { ok: true, summary: '10 lines' } });
        await client.close();
      } finally {
        await replica2.close();
        await database2.close();
      }
    });
  }
});
