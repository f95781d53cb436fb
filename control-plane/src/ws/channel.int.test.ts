import { CHANNEL_CLOSE, mergeGatewayConfig, PROTOCOL_VERSION } from '@ferry/shared';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway, openChannel, testHealth } from '../../../testkit/control-plane/channel-client.js';
import {
  type ChannelServer,
  openSecondReplicaDatabase,
  serveTestAppWithChannel,
} from '../../../testkit/control-plane/channel-server.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  signAgentToken,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import type { Database } from '../db/client.js';
import { notifyGateways } from '../db/notify.js';
import { gatewayDiagnostics, gatewayEvents, gatewayStatus } from '../db/schema/index.js';
import { startGatewayLiveness } from '../jobs/gateway-liveness.js';
import { appendConfigVersion } from '../services/gateway-config.js';

const HEARTBEAT_SECONDS = 0.5;

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(BACKENDS)('agent channel (%s)', (backend) => {
  let t: TestApp;
  let server: ChannelServer;
  let a: SeededGroup;
  let b: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    server = await serveTestAppWithChannel(t, {
      heartbeatSeconds: HEARTBEAT_SECONDS,
      replicaId: 'replica-1',
    });
    a = await t.seedGroup('Group A');
    b = await t.seedGroup('Group B');
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  const statusOf = async (gatewayId: string) => {
    const [row] = await t.database.db
      .select()
      .from(gatewayStatus)
      .where(eq(gatewayStatus.gatewayId, gatewayId));
    return row;
  };
  const eventsOf = (gatewayId: string, type?: string) =>
    t.database.db
      .select()
      .from(gatewayEvents)
      .where(and(eq(gatewayEvents.gatewayId, gatewayId), type ? eq(gatewayEvents.type, type) : undefined))
      .orderBy(asc(gatewayEvents.at));
  const pushConfig = async (database: Database, gatewayId: string, aeTitle: string, notify = true) =>
    database.db.transaction(async (tx) => {
      const version = await appendConfigVersion(
        tx,
        gatewayId,
        mergeGatewayConfig({ aeTitle, stablePeriodSeconds: 60 }, {}, {}),
      );
      if (notify) await notifyGateways(tx, { kind: 'config', gatewayIds: [gatewayId] });
      return version;
    });

  describe('security at the upgrade', () => {
    it('refuses a connection without a token before the upgrade (401 auth.missing_token)', async () => {
      const res = await openChannel(server.channelUrl, undefined);
      expect(res).toMatchObject({ ok: false, status: 401, errorCode: 'auth.missing_token', reenroll: false });
    });

    it('refuses a malformed token (401 auth.invalid_token)', async () => {
      const res = await openChannel(server.channelUrl, 'not-a-jwt');
      expect(res).toMatchObject({ ok: false, status: 401, errorCode: 'auth.invalid_token' });
    });

    it("refuses a token signed with another key, and a user's session (401 auth.invalid_token)", async () => {
      const gw = await enrollTestGateway(t, a);
      const other = await newAgentKeyPair();
      const forged = await signAgentToken(other.privateKey, gw.gatewayId, {
        defaultAudience: t.deps.publicUrl,
      });
      expect(await openChannel(server.channelUrl, forged)).toMatchObject({
        status: 401,
        errorCode: 'auth.invalid_token',
      });
      expect(await openChannel(server.channelUrl, a.admin.token)).toMatchObject({
        status: 401,
        errorCode: 'auth.invalid_token',
      });
    });

    it('refuses an expired token (401 auth.expired_token)', async () => {
      const gw = await enrollTestGateway(t, a);
      const res = await openChannel(server.channelUrl, await gw.token({ expSeconds: -30 }));
      expect(res).toMatchObject({ ok: false, status: 401, errorCode: 'auth.expired_token' });
    });

    it('answers a plain GET (no upgrade) with the JSON error shape', async () => {
      const gw = await enrollTestGateway(t, a);
      const none = await fetch(server.channelUrl.replace('ws:', 'http:'));
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe('auth.missing_token');
      const plain = await fetch(server.channelUrl.replace('ws:', 'http:'), {
        headers: { authorization: `Bearer ${await gw.token()}` },
      });
      expect(plain.status).toBe(400);
      const body = (await plain.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('request.invalid');
      expect(body.error.message).toMatch(/websocket/);
    });

    it('tells a revoked or unknown gateway to re-enroll (401, x-ferry-reenroll: 1)', async () => {
      const gw = await enrollTestGateway(t, a);
      await gw.revoke();
      expect(await openChannel(server.channelUrl, await gw.token())).toMatchObject({
        ok: false,
        status: 401,
        errorCode: 'auth.reenroll',
        reenroll: true,
      });
      const keys = await newAgentKeyPair();
      const unknown = await signAgentToken(keys.privateKey, unknownId(), {
        defaultAudience: t.deps.publicUrl,
      });
      expect(await openChannel(server.channelUrl, unknown)).toMatchObject({ status: 401, reenroll: true });
    });

    it('sends reenroll and closes 4401 when a connected gateway is revoked through the API', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      const res = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, {
        token: a.admin.token,
      });
      expect(res.status, res.text).toBe(200);
      expect((await client.next('reenroll')).message).toMatch(/revoked/);
      expect((await client.closed).code).toBe(CHANNEL_CLOSE.reenroll);
      const st = await until(
        () => statusOf(gw.gatewayId),
        (s) => s?.status === 'offline',
      );
      expect(st).toMatchObject({ status: 'offline', channelId: null });
    });

    it("refuses a diagnostic result for another group's diagnostic, and writes nothing", async () => {
      const gwA = await enrollTestGateway(t, a);
      const gwB = await enrollTestGateway(t, b);
      const [diag] = await t.database.db
        .insert(gatewayDiagnostics)
        .values({
          groupId: b.groupId,
          gatewayId: gwB.gatewayId,
          request: { kind: 'upload-test' },
          state: 'sent',
          expiresAt: new Date(Date.now() + 60_000),
        })
        .returning();
      const { client } = await connectGateway(server.channelUrl, gwA);
      client.send({ type: 'diagnostic.result', id: diag!.id, result: { ok: true, summary: 'forged' } });
      const err = await client.next('error');
      expect(err.code).toBe('resource.not_found');
      const [after] = await t.database.db
        .select()
        .from(gatewayDiagnostics)
        .where(eq(gatewayDiagnostics.id, diag!.id));
      expect(after).toMatchObject({ state: 'sent', result: null, completedAt: null });
      expect(await eventsOf(gwA.gatewayId, 'diagnostic')).toEqual([]);
      expect(await eventsOf(gwB.gatewayId, 'diagnostic')).toEqual([]);
      // The channel is unharmed.
      client.send({ type: 'heartbeat', seq: 1, health: testHealth() });
      expect((await client.next('heartbeat.ack')).seq).toBe(1);
      await client.close();
    });
  });

  describe('protocol', () => {
    it('answers hello with welcome and records the channel', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client, welcome } = await connectGateway(server.channelUrl, gw, { agentVersion: '1.2.3' });
      expect(welcome).toMatchObject({
        v: PROTOCOL_VERSION,
        gatewayId: gw.gatewayId,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
      expect(Math.abs(Date.parse(welcome.serverTime) - Date.now())).toBeLessThan(5000);
      expect(server.hub.connectedGatewayIds()).toContain(gw.gatewayId);
      const st = await statusOf(gw.gatewayId);
      expect(st).toMatchObject({
        status: 'online',
        replicaId: 'replica-1',
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
      expect(st?.channelId).toMatch(/^[0-9a-f-]{36}$/);
      const connected = await eventsOf(gw.gatewayId, 'channel.connected');
      expect(connected.map((e) => e.details)).toEqual([{ replicaId: 'replica-1', agentVersion: '1.2.3' }]);
      expect((await eventsOf(gw.gatewayId, 'status')).map((e) => e.details)).toEqual([
        { from: 'offline', to: 'online', conditions: [] },
      ]);
      await client.close();
    });

    it.each([
      [3, 'upgrade the agent'],
      [PROTOCOL_VERSION + 1, 'upgrade the control plane'],
    ])('refuses protocol %i with a clear error and close 4426', async (v, advice) => {
      const gw = await enrollTestGateway(t, a);
      const outcome = await openChannel(server.channelUrl, await gw.token());
      if (!outcome.ok) throw new Error('refused');
      const { client } = outcome;
      client.send({ type: 'hello', v, agentVersion: 'x', configVersion: 0 });
      const err = await client.next('error');
      expect(err.code).toBe('protocol.version_mismatch');
      expect(err.message).toContain(String(v));
      expect(err.message).toContain(String(PROTOCOL_VERSION));
      expect(err.message).toContain(advice);
      expect((await client.closed).code).toBe(CHANNEL_CLOSE.versionMismatch);
      expect(await statusOf(gw.gatewayId)).toBeUndefined();
    });

    it('answers invalid JSON and schema-invalid messages with protocol.message_invalid and keeps going', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      client.sendRaw('{not json');
      expect(await client.next('error')).toMatchObject({ code: 'protocol.message_invalid' });
      client.send({ type: 'heartbeat', seq: 1, health: { agentVersion: 'x' } });
      const err = await client.next('error');
      expect(err.code).toBe('protocol.message_invalid');
      expect(err.message).toMatch(/health\.\w+/);
      client.send({ type: 'no.such.message' });
      expect((await client.next('error')).code).toBe('protocol.message_invalid');
      client.send({ type: 'heartbeat', seq: 2, health: testHealth() });
      expect((await client.next('heartbeat.ack')).seq).toBe(2);
      expect((await statusOf(gw.gatewayId))?.status).toBe('online');
      await client.close();
    });

    it('closes 4400 after repeated abuse', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      for (let i = 0; i < 5; i++) client.sendRaw('garbage');
      expect((await client.closed).code).toBe(CHANNEL_CLOSE.protocolError);
    });

    it('answers a probe hello with welcome and leaves the status alone', async () => {
      const gw = await enrollTestGateway(t, a);
      const outcome = await openChannel(server.channelUrl, await gw.token());
      if (!outcome.ok) throw new Error('refused');
      outcome.client.send({ type: 'hello', agentVersion: 'doctor', configVersion: 0, probe: true });
      expect((await outcome.client.next('welcome')).gatewayId).toBe(gw.gatewayId);
      expect((await outcome.client.closed).code).toBe(1000);
      expect(await statusOf(gw.gatewayId)).toBeUndefined();
    });

    it('replaces an older channel of the same gateway (4409) without turning it offline', async () => {
      const gw = await enrollTestGateway(t, a);
      const first = await connectGateway(server.channelUrl, gw);
      const second = await connectGateway(server.channelUrl, gw);
      expect((await first.client.closed).code).toBe(CHANNEL_CLOSE.replaced);
      second.client.send({ type: 'heartbeat', seq: 1, health: testHealth() });
      await second.client.next('heartbeat.ack');
      const st = await statusOf(gw.gatewayId);
      expect(st?.status).toBe('online');
      expect(st?.channelId).not.toBeNull();
      expect(server.hub.channelOf(gw.gatewayId)).toBeDefined();
      await second.client.close();
    });
  });

  describe('heartbeats and status', () => {
    it('stores each heartbeat and acks it', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      const health = testHealth({ configVersion: 0, uptimeSeconds: 99 });
      client.send({ type: 'heartbeat', seq: 7, health });
      const ack = await client.next('heartbeat.ack');
      expect(ack.seq).toBe(7);
      const st = await statusOf(gw.gatewayId);
      expect(st?.health).toEqual(health);
      expect(st?.appliedConfigVersion).toBe(0);
      expect(Date.now() - (st?.lastHeartbeatAt?.getTime() ?? 0)).toBeLessThan(5000);
      await client.close();
    });

    it('turns degraded on a warning condition and back online, with one status event per change', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      const warning = {
        code: 'spool.disk_low',
        severity: 'warning' as const,
        message: '4 GB free',
        since: new Date().toISOString(),
      };
      client.send({ type: 'heartbeat', seq: 1, health: testHealth({ conditions: [warning] }) });
      await client.next('heartbeat.ack');
      expect((await statusOf(gw.gatewayId))?.status).toBe('degraded');
      client.send({ type: 'heartbeat', seq: 2, health: testHealth({ conditions: [warning] }) });
      await client.next('heartbeat.ack');
      client.send({ type: 'heartbeat', seq: 3, health: testHealth() });
      await client.next('heartbeat.ack');
      expect((await statusOf(gw.gatewayId))?.status).toBe('online');
      expect((await eventsOf(gw.gatewayId, 'status')).map((e) => e.details)).toEqual([
        { from: 'offline', to: 'online', conditions: [] },
        { from: 'online', to: 'degraded', conditions: [warning] },
        { from: 'degraded', to: 'online', conditions: [] },
      ]);
      await client.close();
    });

    it('an info condition keeps the gateway online', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      const info = {
        code: 'dicom.tls_expiring',
        severity: 'info' as const,
        message: 'in 60 days',
        since: new Date().toISOString(),
      };
      client.send({ type: 'heartbeat', seq: 1, health: testHealth({ conditions: [info] }) });
      await client.next('heartbeat.ack');
      expect((await statusOf(gw.gatewayId))?.status).toBe('online');
      await client.close();
    });

    it('turns offline when the channel closes, with channel.closed and status events', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      await client.close();
      const st = await until(
        () => statusOf(gw.gatewayId),
        (s) => s?.status === 'offline',
      );
      expect(st).toMatchObject({ status: 'offline', channelId: null });
      expect((await eventsOf(gw.gatewayId, 'channel.closed')).map((e) => e.details)).toEqual([
        { replicaId: 'replica-1', code: 1000 },
      ]);
      expect((await eventsOf(gw.gatewayId, 'status')).map((e) => (e.details as { to: string }).to)).toEqual([
        'online',
        'offline',
      ]);
    });

    it('the liveness job turns a silent gateway offline within two heartbeat intervals', async () => {
      const gw = await enrollTestGateway(t, a);
      const job = startGatewayLiveness({
        db: t.database.db,
        log: t.deps.log,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
      try {
        const { client } = await connectGateway(server.channelUrl, gw);
        client.send({ type: 'heartbeat', seq: 1, health: testHealth() });
        await client.next('heartbeat.ack');
        const silentSince = Date.now();
        // The socket stays open (pongs flow), but no heartbeat comes.
        const st = await until(
          () => statusOf(gw.gatewayId),
          (s) => s?.status === 'offline',
          5000,
        );
        expect(st?.status).toBe('offline');
        // max(1.5 intervals, 1 interval + 0.5 s), checked every quarter interval (at least 0.25 s),
        // plus the polling here.
        const thresholdMs = Math.max(1.5 * HEARTBEAT_SECONDS, HEARTBEAT_SECONDS + 0.5) * 1000;
        expect(Date.now() - silentSince).toBeLessThan(
          thresholdMs + Math.max(250, HEARTBEAT_SECONDS * 250) + 500,
        );
        expect(st?.channelId).not.toBeNull();
        const offline = (await eventsOf(gw.gatewayId, 'status')).filter(
          (e) => (e.details as { to: string }).to === 'offline',
        );
        expect(offline).toHaveLength(1);
        // A late heartbeat on the same channel brings it back.
        client.send({ type: 'heartbeat', seq: 2, health: testHealth() });
        await client.next('heartbeat.ack');
        expect((await statusOf(gw.gatewayId))?.status).toBe('online');
        await client.close();
      } finally {
        await job.stop();
      }
    });
  });

  it('sends a diagnostic that waited while the gateway was disconnected when it connects', async () => {
    const gw = await enrollTestGateway(t, a);
    const [diag] = await t.database.db
      .insert(gatewayDiagnostics)
      .values({
        groupId: a.groupId,
        gatewayId: gw.gatewayId,
        request: { kind: 'logs', lines: 5 },
        expiresAt: new Date(Date.now() + 60_000),
      })
      .returning();
    const { client } = await connectGateway(server.channelUrl, gw);
    expect(await client.next('diagnostic.request')).toMatchObject({
      id: diag!.id,
      request: { kind: 'logs', lines: 5 },
    });
    await client.close();
  });

  it('a degraded gateway that reconnects comes back degraded, not as a recovery', async () => {
    const gw = await enrollTestGateway(t, a);
    const warning = {
      code: 'upload.stalled',
      severity: 'warning' as const,
      message: 'no progress',
      since: new Date().toISOString(),
    };
    const first = await connectGateway(server.channelUrl, gw);
    first.client.send({ type: 'heartbeat', seq: 1, health: testHealth({ conditions: [warning] }) });
    await first.client.next('heartbeat.ack');
    await first.client.close();
    await until(
      () => statusOf(gw.gatewayId),
      (s) => s?.status === 'offline',
    );
    const second = await connectGateway(server.channelUrl, gw);
    expect((await statusOf(gw.gatewayId))?.status).toBe('degraded');
    expect((await eventsOf(gw.gatewayId, 'status')).map((e) => e.details)).toEqual([
      { from: 'offline', to: 'online', conditions: [] },
      { from: 'online', to: 'degraded', conditions: [warning] },
      { from: 'degraded', to: 'offline', conditions: [] },
      { from: 'offline', to: 'degraded', conditions: [warning] },
    ]);
    await second.client.close();
  });

  describe('config', () => {
    it('pushes a new config version to the connected gateway', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(server.channelUrl, gw);
      const version = await pushConfig(t.database, gw.gatewayId, 'NEWTITLE');
      const msg = await client.next('config');
      expect(msg.version).toBe(version);
      expect(msg.config).toMatchObject({ aeTitle: 'NEWTITLE', port: 4104 });
      await client.close();
    });

    it('sends the latest config after welcome when hello names an older version, and none when current', async () => {
      const gw = await enrollTestGateway(t, a);
      await pushConfig(t.database, gw.gatewayId, 'FIRST', false);
      const latest = await pushConfig(t.database, gw.gatewayId, 'SECOND', false);
      const old = await connectGateway(server.channelUrl, gw, { configVersion: latest - 1 });
      const msg = await old.client.next('config');
      expect(msg).toMatchObject({ version: latest, config: { aeTitle: 'SECOND' } });
      await old.client.close();
      const current = await connectGateway(server.channelUrl, gw, { configVersion: latest });
      current.client.send({ type: 'heartbeat', seq: 1, health: testHealth({ configVersion: latest }) });
      await current.client.next('heartbeat.ack');
      expect(current.client.received.map((m) => m.type)).toEqual(['welcome', 'heartbeat.ack']);
      await current.client.close();
    });

    it('leaves upload.compression out of the config for a protocol-8 agent (it would refuse the key), not for 9', async () => {
      const gw = await enrollTestGateway(t, a);
      const version = await pushConfig(t.database, gw.gatewayId, 'CODING', false);
      const v8 = await connectGateway(server.channelUrl, gw, { configVersion: 0, protocol: 8 });
      const old = await v8.client.next('config');
      expect(old.version).toBe(version);
      expect(old.config.upload).not.toHaveProperty('compression');
      expect(old.config.upload).toMatchObject({ parallelism: 4 });
      await v8.client.close();
      const v9 = await connectGateway(server.channelUrl, gw, {
        configVersion: 0,
        protocol: PROTOCOL_VERSION,
      });
      expect((await v9.client.next('config')).config.upload).toMatchObject({ compression: 'auto' });
      await v9.client.close();
    });

    it('records applied and rejected versions, and refuses an ack for a version that does not exist', async () => {
      const gw = await enrollTestGateway(t, a);
      const v1 = await pushConfig(t.database, gw.gatewayId, 'ONE', false);
      const v2 = await pushConfig(t.database, gw.gatewayId, 'TWO', false);
      const { client } = await connectGateway(server.channelUrl, gw, { configVersion: v2 });
      client.send({ type: 'config.rejected', version: v2, reason: 'port 104 is in use' });
      client.send({ type: 'config.applied', version: v1 });
      client.send({ type: 'heartbeat', seq: 1, health: testHealth({ configVersion: v1 }) });
      await client.next('heartbeat.ack');
      let st = await statusOf(gw.gatewayId);
      expect(st?.appliedConfigVersion).toBe(v1);
      expect(st?.rejectedConfig).toMatchObject({ version: v2, reason: 'port 104 is in use' });
      expect((await eventsOf(gw.gatewayId, 'config.rejected')).map((e) => e.details)).toEqual([
        { version: v2, reason: 'port 104 is in use' },
      ]);
      expect((await eventsOf(gw.gatewayId, 'config.applied')).map((e) => e.details)).toEqual([
        { version: v1 },
      ]);
      // A periodic resync does not push the refused version again.
      await server.hub.resync();
      client.send({ type: 'config.applied', version: 99 });
      expect((await client.next('error')).code).toBe('resource.not_found');
      expect(client.received.filter((m) => m.type === 'config')).toEqual([]);
      // A newer version that applies clears the rejection.
      const v3 = await pushConfig(t.database, gw.gatewayId, 'THREE');
      expect((await client.next('config')).version).toBe(v3);
      client.send({ type: 'config.applied', version: v3 });
      st = await until(
        () => statusOf(gw.gatewayId),
        (s) => s?.appliedConfigVersion === v3,
      );
      expect(st?.rejectedConfig).toBeNull();
      await client.close();
    });

    it('answers resync with the latest config, and a hub resync repairs a lost notice', async () => {
      const gw = await enrollTestGateway(t, a);
      const v1 = await pushConfig(t.database, gw.gatewayId, 'ONE', false);
      const { client } = await connectGateway(server.channelUrl, gw, { configVersion: v1 });
      client.send({ type: 'resync' });
      expect((await client.next('config')).version).toBe(v1);
      const v2 = await pushConfig(t.database, gw.gatewayId, 'TWO', false);
      client.send({ type: 'config.applied', version: v1 });
      client.send({ type: 'heartbeat', seq: 1, health: testHealth({ configVersion: v1 }) });
      await client.next('heartbeat.ack');
      await server.hub.resync();
      expect((await client.next('config')).version).toBe(v2);
      await client.close();
    });
  });

  describe('liveness of the socket', () => {
    let fast: ChannelServer;
    beforeAll(async () => {
      fast = await serveTestAppWithChannel(t, {
        replicaId: 'replica-fast',
        pingIntervalMs: 100,
        helloTimeoutMs: 300,
      });
    });
    afterAll(async () => {
      await fast?.close();
    });

    it('terminates a peer that stops answering pings, and the gateway turns offline', async () => {
      const gw = await enrollTestGateway(t, a);
      const outcome = await openChannel(fast.channelUrl, await gw.token(), { autoPong: false });
      if (!outcome.ok) throw new Error('refused');
      outcome.client.send({ type: 'hello', agentVersion: 'x', configVersion: 0 });
      await outcome.client.next('welcome');
      const started = Date.now();
      // Terminated without a close frame.
      expect((await outcome.client.closed).code).toBe(1006);
      expect(Date.now() - started).toBeLessThan(3000);
      const st = await until(
        () => statusOf(gw.gatewayId),
        (s) => s?.status === 'offline',
      );
      expect(st?.status).toBe('offline');
    });

    it('keeps a peer that answers pings', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(fast.channelUrl, gw);
      await new Promise((r) => setTimeout(r, 600));
      expect(client.ws.readyState).toBe(client.ws.OPEN);
      await client.close();
    });

    it('closes a socket that never says hello (4400)', async () => {
      const gw = await enrollTestGateway(t, a);
      const outcome = await openChannel(fast.channelUrl, await gw.token());
      if (!outcome.ok) throw new Error('refused');
      expect((await outcome.client.closed).code).toBe(CHANNEL_CLOSE.protocolError);
      expect(await statusOf(gw.gatewayId)).toBeUndefined();
    });

    it('closes a socket that sends a message over 256 KiB (1009) and nothing is stored', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(fast.channelUrl, gw);
      client.send({
        type: 'heartbeat',
        seq: 1,
        health: testHealth({ agentVersion: 'x'.repeat(300 * 1024) }),
      });
      expect((await client.closed).code).toBe(1009);
      expect((await statusOf(gw.gatewayId))?.health).toBeNull();
    });

    it('a resync closes the channel of a gateway revoked while its notice was lost', async () => {
      const gw = await enrollTestGateway(t, a);
      const { client } = await connectGateway(fast.channelUrl, gw);
      await gw.revoke(); // directly in the database: no notice
      await fast.hub.resync();
      await client.next('reenroll');
      expect((await client.closed).code).toBe(CHANNEL_CLOSE.reenroll);
    });
  });

  it('a stopping replica closes its channels with 1001 and leaves the gateways online', async () => {
    const own = await serveTestAppWithChannel(t, {
      heartbeatSeconds: HEARTBEAT_SECONDS,
      replicaId: 'replica-stopping',
    });
    const gw = await enrollTestGateway(t, a);
    const { client } = await connectGateway(own.channelUrl, gw);
    await own.close();
    expect((await client.closed).code).toBe(CHANNEL_CLOSE.goingAway);
    const st = await statusOf(gw.gatewayId);
    expect(st).toMatchObject({ status: 'online', channelId: null });
    expect((await eventsOf(gw.gatewayId, 'channel.closed')).map((e) => e.details)).toEqual([
      { replicaId: 'replica-stopping', code: CHANNEL_CLOSE.goingAway },
    ]);
  });

  if (backend === 'postgres') {
    it('a change made through one replica reaches a gateway connected to another (LISTEN/NOTIFY)', async () => {
      const database2 = await openSecondReplicaDatabase(t);
      const replica2 = await serveTestAppWithChannel(t, { database: database2, replicaId: 'replica-2' });
      try {
        const gw = await enrollTestGateway(t, a);
        const { client } = await connectGateway(replica2.channelUrl, gw);
        expect((await statusOf(gw.gatewayId))?.replicaId).toBe('replica-2');
        // Written through replica 1's connections; only replica 2 holds the channel.
        const version = await pushConfig(t.database, gw.gatewayId, 'VIAREPLICA1');
        expect(await client.next('config')).toMatchObject({ version, config: { aeTitle: 'VIAREPLICA1' } });
        expect(server.hub.channelOf(gw.gatewayId)).toBeUndefined();
        const res = await t.request('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, {
          token: a.admin.token,
        });
        expect(res.status).toBe(200);
        await client.next('reenroll');
        expect((await client.closed).code).toBe(CHANNEL_CLOSE.reenroll);
      } finally {
        await replica2.close();
        await database2.close();
      }
    });
  }
});
