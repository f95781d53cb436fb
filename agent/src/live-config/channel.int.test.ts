// The agent's control channel against a small real websocket server (testing/channel-server.ts): it
// checks the agent token at the upgrade, speaks the channel protocol (welcome, acks, config pushes,
// diagnostics) and misbehaves on purpose (drops, refusals, silence). Only the rest of the agent is
// stood in for: health, config applier and diagnostics are the channel's hooks, recorded here.
import {
  CHANNEL_CLOSE,
  type DiagnosticRequest,
  type DiagnosticResult,
  type HealthReport,
  PROTOCOL_VERSION,
} from '@ferry/shared';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep, TestControlPlane, until } from '../../../testkit/agent/channel-server.js';
import { silent } from '../../../testkit/agent/spool.js';
import type { DiagnosticRunner, HealthSource } from './channel.js';
import { ControlChannel } from './channel.js';
import type { ApplyOutcome, ConfigApplier } from './config-applier-contract.js';

const GATEWAY_ID = '0c0f6b59-4a37-4c55-9d0f-2b0d4c6e3a10';
let privateJwk: JWK;
let publicKey: Awaited<ReturnType<typeof generateKeyPair>>['publicKey'];

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  privateJwk = await exportJWK(pair.privateKey);
  publicKey = pair.publicKey;
});

const report: HealthReport = {
  agentVersion: '0.0.0-test',
  uptimeSeconds: 1,
  configVersion: 0,
  spool: { pendingCount: 0, pendingBytes: 0, pendingStudies: 0, oldestUnsentAt: null, quarantined: 0 },
  upload: { bytesPerSecond: 0, objectsDelivered: 0, errors: 0, lastError: null },
  dicom: {
    listening: true,
    aeTitle: 'GATEWAY',
    port: 4104,
    activeAssociations: 0,
    associations: 0,
    lastStoreByCallingAe: [],
    tlsCertExpiresAt: null,
  },
  disk: { freeBytes: 1, totalBytes: 2 },
  clockOffsetMs: null,
  conditions: [],
};

class RecordingHealth implements HealthSource {
  offsets: number[] = [];
  async report(): Promise<HealthReport> {
    return report;
  }
  setClockOffset(ms: number): void {
    this.offsets.push(ms);
  }
}

/** Applies versions in order, slowly; rejects a config whose port is 1. Records overlap. */
class RecordingApplier implements ConfigApplier {
  version: number;
  calls: number[] = [];
  busy = 0;
  maxBusy = 0;
  constructor(version = 0) {
    this.version = version;
  }
  appliedVersion(): number {
    return this.version;
  }
  async apply(version: number, config: Record<string, unknown>): Promise<ApplyOutcome> {
    this.calls.push(version);
    this.maxBusy = Math.max(this.maxBusy, ++this.busy);
    await sleep(30);
    this.busy--;
    if (config.port === 1) return { ok: false, reason: 'port 1 is in use on this gateway' };
    this.version = version;
    return { ok: true };
  }
}

class SlowDiagnostics implements DiagnosticRunner {
  async run(request: DiagnosticRequest): Promise<DiagnosticResult> {
    await sleep(300);
    return { ok: true, summary: `ran ${request.kind}` };
  }
}

const servers: TestControlPlane[] = [];
const channels: ControlChannel[] = [];

afterEach(async () => {
  for (const c of channels.splice(0)) await c.stop();
  for (const s of servers.splice(0)) await s.close();
});

async function rig(
  opts: { autoPong?: boolean; applier?: RecordingApplier; backoff?: { baseMs: number; capMs: number } } = {},
) {
  const server = new TestControlPlane({ publicKey, gatewayId: GATEWAY_ID, autoPong: opts.autoPong });
  servers.push(server);
  await server.listen();
  const health = new RecordingHealth();
  const applier = opts.applier ?? new RecordingApplier();
  const reenrolls: number[] = [];
  const channel = new ControlChannel({
    server: server.url,
    gatewayId: GATEWAY_ID,
    privateJwk,
    health,
    diagnostics: new SlowDiagnostics(),
    applier,
    log: silent,
    onReenroll: async () => {
      reenrolls.push(Date.now());
    },
    backoff: opts.backoff ?? { baseMs: 100, capMs: 400 },
    agentVersion: '1.2.3',
  });
  channels.push(channel);
  return { server, channel, health, applier, reenrolls };
}

describe('ControlChannel against a real websocket server', () => {
  it('says hello with a signed token, heartbeats at the pace the server sets and measures the clock offset', async () => {
    const { server, channel, health } = await rig({ applier: new RecordingApplier(3) });
    server.skewMs = -5000; // the server's clock is 5 s behind: agent minus server = +5 s
    channel.start();
    const conn = await until('a connection', () => server.conns[0]);
    const hello = await until('hello', () => server.of(conn, 'hello')[0]);
    expect(hello).toEqual({ type: 'hello', v: PROTOCOL_VERSION, agentVersion: '1.2.3', configVersion: 3 });
    await until('open', () => channel.state === 'open');

    const started = Date.now();
    await until('5 heartbeats', () => server.of(conn, 'heartbeat').length >= 5 || undefined, 3000);
    const elapsed = Date.now() - started;
    // 0.2 s ±10% each: five take 0.9–1.1 s, plus timer slack.
    expect(elapsed).toBeGreaterThan(800);
    expect(elapsed).toBeLessThan(2500);
    const beats = server.of(conn, 'heartbeat');
    expect(beats.map((b) => b.seq)).toEqual([...beats.keys()]);
    expect(beats[0]?.health).toEqual(report);

    await until('clock offsets', () => health.offsets.length >= 3 || undefined);
    for (const o of health.offsets) {
      // Off by at most half a round trip on a loopback socket.
      expect(o).toBeGreaterThan(4750);
      expect(o).toBeLessThan(5250);
    }
  });

  it('applies pushed config one version at a time and acknowledges or rejects each', async () => {
    const { server, channel, applier } = await rig();
    channel.start();
    await until('open', () => channel.state === 'open');
    const conn = server.latest();
    server.send(conn, { type: 'config', version: 4, config: { port: 104 } });
    server.send(conn, { type: 'config', version: 5, config: { port: 1 } });
    server.send(conn, { type: 'config', version: 6, config: { port: 105 } });
    await until(
      'three answers',
      () => conn.messages.filter((m) => m.type.startsWith('config.')).length >= 3 || undefined,
    );
    expect(conn.messages.filter((m) => m.type.startsWith('config.'))).toEqual([
      { type: 'config.applied', v: PROTOCOL_VERSION, version: 4 },
      {
        type: 'config.rejected',
        v: PROTOCOL_VERSION,
        version: 5,
        reason: 'port 1 is in use on this gateway',
      },
      { type: 'config.applied', v: PROTOCOL_VERSION, version: 6 },
    ]);
    expect(applier.maxBusy).toBe(1);

    // The version in force again: acknowledged without applying; an older one: ignored.
    server.send(conn, { type: 'config', version: 6, config: { port: 105 } });
    server.send(conn, { type: 'config', version: 2, config: { port: 105 } });
    await until('the repeat ack', () => server.of(conn, 'config.applied').length >= 3 || undefined);
    await sleep(100);
    expect(server.of(conn, 'config.applied').map((m) => m.version)).toEqual([4, 6, 6]);
    expect(applier.calls).toEqual([4, 5, 6]);
  });

  it('runs a diagnostic without holding up other messages', async () => {
    const { server, channel } = await rig();
    channel.start();
    await until('open', () => channel.state === 'open');
    const conn = server.latest();
    const id = '5b1e9c54-2f0a-4d8e-9c1b-6a7d3e2f1a00';
    server.send(conn, { type: 'diagnostic.request', id, request: { kind: 'logs', lines: 10 } });
    server.send(conn, { type: 'config', version: 1, config: { port: 104 } });
    const result = await until('the result', () => server.of(conn, 'diagnostic.result')[0]);
    expect(result).toEqual({
      type: 'diagnostic.result',
      v: PROTOCOL_VERSION,
      id,
      result: { ok: true, summary: 'ran logs' },
    });
    const order = conn.messages.map((m) => m.type).filter((t) => t !== 'heartbeat');
    expect(order.indexOf('config.applied')).toBeLessThan(order.indexOf('diagnostic.result'));
  });

  it('reconnects with backoff after the server drops it, and resumes from the applied version', async () => {
    const { server, channel } = await rig();
    channel.start();
    await until('open', () => channel.state === 'open');
    server.send(server.latest(), { type: 'config', version: 7, config: { port: 104 } });
    await until('applied', () => server.of(server.latest(), 'config.applied')[0]);
    server.latest().ws.terminate();
    const second = await until('a second connection', () => server.conns[1]);
    expect(await until('hello', () => server.of(second, 'hello')[0])).toMatchObject({ configVersion: 7 });

    // The whole control plane goes away, and comes back on the same port.
    const port = server.port;
    await server.close();
    await until('waiting', () => channel.state === 'waiting');
    await sleep(600);
    const upgradesBefore = server.upgrades;
    const back = new TestControlPlane({ publicKey, gatewayId: GATEWAY_ID });
    servers.push(back);
    await back.listen(port);
    await until('reconnected', () => back.conns[0], 5000);
    await until('open', () => channel.state === 'open');
    expect(back.upgrades).toBe(1);
    expect(upgradesBefore).toBe(2);
  });

  it('keeps retrying an ordinary refusal', async () => {
    const { server, channel, reenrolls } = await rig();
    server.refusal = { status: 503, headers: { 'x-ferry-error-code': 'service.unavailable' } };
    channel.start();
    await until('three attempts', () => server.upgrades >= 3 || undefined);
    expect(channel.state).not.toBe('reenroll-required');
    server.refusal = undefined;
    await until('open', () => channel.state === 'open');
    expect(reenrolls).toEqual([]);
  });

  it('a refusal with x-ferry-reenroll calls onReenroll and stops for good', async () => {
    const { server, channel, reenrolls } = await rig();
    server.refusal = {
      status: 401,
      headers: { 'x-ferry-error-code': 'auth.gateway_revoked', 'x-ferry-reenroll': '1' },
    };
    channel.start();
    await until('onReenroll', () => reenrolls.length === 1 || undefined);
    await sleep(600);
    expect(server.upgrades).toBe(1);
    expect(reenrolls).toHaveLength(1);
    expect(channel.state).toBe('reenroll-required');
  });

  it('a reenroll message, or close code 4401, stops it too', async () => {
    const { server, channel, reenrolls } = await rig();
    channel.start();
    await until('open', () => channel.state === 'open');
    server.send(server.latest(), { type: 'reenroll', message: 'gateway revoked' });
    await until('onReenroll', () => reenrolls.length === 1 || undefined);
    expect((await server.latest().closed).code).toBe(1000);

    const second = await rig();
    second.channel.start();
    await until('open', () => second.channel.state === 'open');
    second.server.latest().ws.close(CHANNEL_CLOSE.reenroll, 'revoked');
    await until('onReenroll', () => second.reenrolls.length === 1 || undefined);
    await sleep(300);
    expect(second.server.upgrades).toBe(1);
  });

  it('backs off to the maximum after a protocol version mismatch', async () => {
    const { server, channel } = await rig({ backoff: { baseMs: 50, capMs: 1500 } });
    channel.start();
    await until('open', () => channel.state === 'open');
    const conn = server.latest();
    server.send(conn, {
      type: 'error',
      code: 'protocol.version_mismatch',
      message: 'agent protocol 4 is too old',
    });
    await sleep(50);
    const closedAt = Date.now();
    conn.ws.close(CHANNEL_CLOSE.versionMismatch, 'version');
    await until('a second connection', () => server.conns[1], 4000);
    expect(Date.now() - closedAt).toBeGreaterThan(1400);
  });

  it('terminates and reconnects when the server stops answering pings', async () => {
    const { server, channel } = await rig({ autoPong: false });
    server.ackHeartbeats = false;
    channel.start();
    await until('open', () => channel.state === 'open');
    const first = server.latest();
    const opened = Date.now();
    // Pings every max(1 s, heartbeat) = 1 s; silent for 3 of them → terminated, then reconnect.
    await until('a second connection', () => server.conns[1], 8000);
    const ms = Date.now() - opened;
    expect(ms).toBeGreaterThan(2900);
    expect(ms).toBeLessThan(6000);
    expect((await first.closed).code).toBe(1006);
  });

  it('stop() closes with 1000 and does not reconnect', async () => {
    const { server, channel } = await rig();
    channel.start();
    await until('open', () => channel.state === 'open');
    await channel.stop();
    expect((await server.latest().closed).code).toBe(1000);
    await sleep(300);
    expect(server.upgrades).toBe(1);
    expect(channel.state).toBe('stopped');
  });
});
