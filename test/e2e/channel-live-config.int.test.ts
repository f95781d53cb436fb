// The live control channel across real processes: a change an admin makes through the API reaches the
// running agent within seconds, re-binds its DICOM listener without a restart, and a config the agent
// cannot apply is rejected, reported and leaves the old config in force. Two control-plane replicas on
// one PostgreSQL show the LISTEN/NOTIFY fan-out.
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../harness/agent.js';
import { type Cloud, type GatewayView, startCloud } from '../harness/cloud.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { echoscu, freePort, storescu } from '../harness/dcmtk.js';
import { RawScu, verificationContext } from '../harness/raw-scu.js';

const HEARTBEAT_SECONDS = 1;

interface GatewayDetail extends GatewayView {
  appliedConfigVersion: number | null;
  configVersion: number | null;
  rejectedConfig: { version: number; reason: string } | null;
  conditions: { code: string; severity: string; message: string }[];
}

/** The calling AE titles this file's DICOM peers use (echoscu, storescu, the raw SCU). */
const CALLERS = ['ECHOSCU', 'STORESCU', 'RAWSCU'];

let cloud: Cloud;
let gatewayId: string;
let aeTitle = 'CHANGEME';

beforeAll(async () => {
  cloud = await startCloud({
    name: 'channel-config',
    database: 'postgres',
    aeTitle,
    proxyControlPlane: true,
    env: { FERRY_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS), FERRY_REPLICA_ID: 'replica-1' },
  });
  gatewayId = String((await cloud.agentConfig()).gatewayId);
  // Connected and reporting; degraded, since nothing limits its callers yet (the first test).
  await waitForGateway((g) => g.status !== 'offline' && g.conditions.length > 0, 'connected and reporting');
}, 120_000);

afterAll(async () => {
  await cloud?.close();
});

function gateway(): Promise<GatewayDetail> {
  return cloud.gateway<GatewayDetail>(gatewayId);
}

function waitForGateway(
  pred: (g: GatewayDetail) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<GatewayDetail> {
  return cloud.waitForGateway(gatewayId, pred, what, timeoutMs);
}

async function dicomPort(): Promise<number> {
  return Number((await cloud.agentConfig()).port);
}

/** Polls C-ECHO with `calledAe` until it succeeds; returns how long that took. */
async function echoUntilAccepted(port: number, calledAe: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await echoscu({ port, calledAe, timeoutMs: 5000 });
    if (r.code === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`echoscu -aec ${calledAe} :${port} still failing: ${r.stderr}${r.stdout}`);
    await sleep(100);
  }
}

async function patchFacility(body: Record<string, unknown>): Promise<void> {
  const r = await cloud.api('PATCH', `/api/v1/facilities/${cloud.facilityId}`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

describe('config pushed over the live channel', () => {
  it('a gateway open to any caller says so (dicom.open_to_any_caller); an allow-list set live clears it', async () => {
    const open = await waitForGateway(
      (g) => g.conditions.some((c) => c.code === 'dicom.open_to_any_caller'),
      'reporting dicom.open_to_any_caller',
    );
    expect(open.status).toBe('degraded');
    expect(open.conditions.find((c) => c.code === 'dicom.open_to_any_caller')).toMatchObject({
      severity: 'warning',
      message: expect.stringMatching(
        /accepts any calling AE title, so any machine on the network can store to it/,
      ),
    });
    // The group's allow-list (the facility has none of its own) reaches the agent and the condition goes.
    const put = await cloud.api('PUT', '/api/v1/settings/gateways', { allowedCallingAeTitles: CALLERS });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const closed = await waitForGateway(
      (g) => g.status === 'online' && !g.conditions.some((c) => c.code === 'dicom.open_to_any_caller'),
      'online with the allow-list applied',
    );
    expect(closed.appliedConfigVersion).toBe(closed.configVersion);
    expect((await cloud.agentConfig()).allowedCallingAeTitles).toEqual(CALLERS);
  });

  it('an AE title change reaches the agent within 5 s; the old title is refused; sends in progress complete', async () => {
    const port = await dicomPort();
    expect((await echoscu({ port, calledAe: aeTitle })).code).toBe(0);
    const before = await gateway();

    // An association opened under the old title stays open across the change.
    const { scu: open } = await RawScu.open(port, { calledAe: aeTitle, contexts: [verificationContext()] });
    const files = (await corpusFiles(await smallCorpus())).slice(0, 400);
    const sending = storescu({ port, calledAe: aeTitle, files, timeoutMs: 120_000 });
    await sleep(150);

    const next = 'LIVE-AE';
    const changedAt = Date.now();
    await patchFacility({ aeTitle: next });
    const ms = await echoUntilAccepted(port, next, 10_000);
    expect(Date.now() - changedAt).toBeLessThan(5000);
    expect(ms).toBeLessThan(5000);

    const old = await echoscu({ port, calledAe: aeTitle });
    expect(old.code).not.toBe(0);
    expect(`${old.stdout}${old.stderr}`).toMatch(/Called AE Title Not Recognized|rejected/i);

    // The association from before the change still works, then releases normally.
    const rsp = await open.echo(1, 7);
    expect(rsp.status).toBe(0);
    await open.release();

    const sent = await sending;
    expect(sent.code, sent.stderr).toBe(0);

    const after = await waitForGateway(
      (g) => (g.appliedConfigVersion ?? 0) > (before.appliedConfigVersion ?? 0),
      'applied',
    );
    expect(after.appliedConfigVersion).toBe(after.configVersion);
    expect(after.events.some((e) => e.type === 'config.applied')).toBe(true);
    expect((await cloud.agentConfig()).aeTitle).toBe(next);
    aeTitle = next;
  });

  it('a port that is taken is rejected with a reason; the old listener stays; a free port re-binds live', async () => {
    const oldPort = await dicomPort();
    const taken = await holdPort();
    try {
      const before = await gateway();
      await patchFacility({ gateway: { port: taken.port } });
      const rejected = await waitForGateway(
        (g) => (g.rejectedConfig?.version ?? 0) > (before.configVersion ?? 0),
        'rejected the taken port',
      );
      expect(rejected.rejectedConfig?.reason).toContain(String(taken.port));
      expect(rejected.appliedConfigVersion).toBe(before.appliedConfigVersion);
      expect(rejected.events.some((e) => e.type === 'config.rejected')).toBe(true);
      // The old config stays in force.
      expect((await echoscu({ port: oldPort, calledAe: aeTitle })).code).toBe(0);
      expect(await dicomPort()).toBe(oldPort);
    } finally {
      await taken.close();
    }

    const newPort = await freePort();
    await patchFacility({ gateway: { port: newPort } });
    await echoUntilAccepted(newPort, aeTitle, 5000);
    const g = await waitForGateway((x) => x.appliedConfigVersion === x.configVersion, 'applied the new port');
    expect(g.rejectedConfig === null || g.rejectedConfig.version < (g.appliedConfigVersion ?? 0)).toBe(true);
    const old = await echoscu({ port: oldPort, calledAe: aeTitle, timeoutMs: 5000 });
    expect(old.code).not.toBe(0);
    expect(await dicomPort()).toBe(newPort);
  });

  it('a version with a bad AE title is rejected by the agent, named, and the old title keeps answering', async () => {
    const url = cloud.databaseUrl;
    if (!url) throw new Error('this cloud runs on PostgreSQL');
    const before = await gateway();
    // The API refuses a bad AE title, so the bad version is written the way a buggy or older control
    // plane could: straight into the table, announced with NOTIFY like any other version.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const latest = await client.query<{ version: number; config: Record<string, unknown> }>(
        'select version, config from config_versions where gateway_id = $1 order by version desc limit 1',
        [gatewayId],
      );
      const row = latest.rows[0];
      if (!row) throw new Error('no config version');
      const bad = { ...row.config, aeTitle: 'THIS-TITLE-IS-TOO-LONG' };
      await client.query('begin');
      await client.query('insert into config_versions (gateway_id, version, config) values ($1, $2, $3)', [
        gatewayId,
        row.version + 1,
        JSON.stringify(bad),
      ]);
      await client.query(`select pg_notify('ferry_gateways', $1)`, [
        JSON.stringify({ kind: 'config', gatewayIds: [gatewayId] }),
      ]);
      await client.query('commit');
      const g = await waitForGateway(
        (x) => x.rejectedConfig?.version === row.version + 1,
        'rejected the bad AE title',
      );
      expect(g.rejectedConfig?.reason).toMatch(/aeTitle/);
      expect(g.rejectedConfig?.reason).toMatch(/16 characters/);
      expect(g.appliedConfigVersion).toBe(before.appliedConfigVersion);
      expect((await echoscu({ port: await dicomPort(), calledAe: aeTitle })).code).toBe(0);
      expect((await cloud.agentConfig()).aeTitle).toBe(aeTitle);
    } finally {
      await client.end();
    }
  });

  it('a change made through replica 1 reaches the agent connected to replica 2 (LISTEN/NOTIFY)', async () => {
    const proxy = cloud.proxy;
    if (!proxy) throw new Error('this cloud has a proxy in front of the control plane');
    const replica = await cloud.startReplica({ FERRY_REPLICA_ID: 'replica-2' });
    // The "load balancer" now sends new connections to replica 2; cutting the channel makes the agent
    // reconnect there.
    proxy.retarget(replica.port);
    proxy.setDown(true);
    await sleep(200);
    proxy.setDown(false);
    await waitForGateway(
      (g) =>
        // Degraded is expected here: the bad version above is still the latest and stays refused.
        g.status !== 'offline' &&
        g.events.findIndex((e) => e.type === 'channel.connected' && e.details.replicaId === 'replica-2') !==
          -1 &&
        g.events.findIndex((e) => e.type === 'channel.connected') ===
          g.events.findIndex((e) => e.type === 'channel.connected' && e.details.replicaId === 'replica-2'),
      'connected to replica 2',
      30_000,
    );

    // The admin talks to replica 1 directly.
    const next = 'VIA-REPLICA-1';
    const changedAt = Date.now();
    await patchFacility({ aeTitle: next });
    await echoUntilAccepted(await dicomPort(), next, 10_000);
    expect(Date.now() - changedAt).toBeLessThan(5000);
    aeTitle = next;
  });
});

async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
