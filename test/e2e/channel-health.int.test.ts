// Fleet health across real processes: the agent keeps receiving while the control plane is away and
// reconnects when it is back; a silent or stopped agent turns offline within two heartbeat intervals and
// the group's webhook gets signed events; remote diagnostics run on the gateway and report back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../harness/agent.js';
import { type Cloud, type GatewayView, startCloud } from '../harness/cloud.js';
import { CORPUS_PATIENT_NAMES, corpusFiles, smallCorpus } from '../harness/corpus.js';
import { freePort, type Storescp, startStorescp, storescu } from '../harness/dcmtk.js';
import { spoolStatus } from '../harness/spool.js';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook-receiver.js';

const HEARTBEAT_SECONDS = 3;
const INTERVAL_MS = HEARTBEAT_SECONDS * 1000;
/** What a poll adds on top of the moment the status changed: one poll period and one API call. */
const POLL_SLACK_MS = 400;

interface GatewayDetail extends GatewayView {
  configVersion: number | null;
  appliedConfigVersion: number | null;
  statusSince: string;
  lastHeartbeatAt: string | null;
  health: { uptimeSeconds: number; spool: { pendingCount: number } } | null;
}

let cloud: Cloud;
let receiver: WebhookReceiver;
let gatewayId: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  cloud = await startCloud({
    name: 'channel-health',
    // The webhook receiver listens on 127.0.0.1, as an on-prem receiver on the hospital network would.
    env: { FERRY_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS), FERRY_WEBHOOK_ALLOW_PRIVATE: 'true' },
    // Retries to a control plane that is back come within 2 s, not after a backoff grown to tens of seconds.
    agentConfig: { timeouts: { retryCapMs: 2000 } },
  });
  gatewayId = String((await cloud.agentConfig()).gatewayId);
  const hook = await cloud.api<{ id: string; secret: string }>('POST', '/api/v1/webhooks', {
    url: receiver.url,
    degradedAfterSeconds: 60,
  });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  expect(hook.body.secret.length).toBeGreaterThanOrEqual(32);
  receiver.setSecret(hook.body.secret);
  // Only storescu may store: a gateway open to any caller reports a warning and is not online.
  await setGroupSettings({});
  await waitForGateway((g) => g.status === 'online', 'online');
}, 120_000);

/** Replaces the group's gateway settings, always with storescu's calling AE title allowed. */
async function setGroupSettings(settings: Record<string, unknown>): Promise<void> {
  const put = await cloud.api('PUT', '/api/v1/settings/gateways', {
    allowedCallingAeTitles: ['STORESCU'],
    ...settings,
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
}

afterAll(async () => {
  await cloud?.close();
  await receiver?.close();
});

function gateway(): Promise<GatewayDetail> {
  return cloud.gateway<GatewayDetail>(gatewayId);
}

function waitForGateway(
  pred: (g: GatewayDetail) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<GatewayDetail> {
  return cloud.waitForGateway(gatewayId, pred, what, timeoutMs);
}

describe('fleet health over the live channel', () => {
  it('reports heartbeats with health while online', async () => {
    const first = await waitForGateway(
      (g) => g.lastHeartbeatAt !== null && g.health !== null,
      'heartbeating',
    );
    const next = await waitForGateway(
      (g) => g.lastHeartbeatAt !== first.lastHeartbeatAt,
      'heartbeating again',
      3 * INTERVAL_MS,
    );
    expect(Date.parse(next.lastHeartbeatAt ?? '')).toBeGreaterThan(Date.parse(first.lastHeartbeatAt ?? ''));
    expect(next.health?.uptimeSeconds).toBeGreaterThan(0);
    const list = await cloud.api<{ gateways: { id: string; status: string }[] }>('GET', '/api/v1/gateways');
    expect(list.body.gateways.find((g) => g.id === gatewayId)?.status).toBe('online');
    const summary = await cloud.api<{ gateways: { online: number; total: number } }>(
      'GET',
      '/api/v1/fleet/summary',
    );
    expect(summary.status).toBe(200);
    expect(summary.body.gateways.online).toBe(1);
    expect(summary.body.gateways.total).toBe(1);
  });

  it('keeps receiving while the control plane is down, and reconnects when it is back', async () => {
    const connectsBefore = (await gateway()).events.filter((e) => e.type === 'channel.connected').length;
    await cloud.stopControlPlane();
    const files = (await corpusFiles(await smallCorpus())).slice(0, 10);
    const sent = await storescu({
      port: cloud.agent.port,
      calledAe: cloud.aeTitle,
      files,
      timeoutMs: 60_000,
    });
    expect(sent.code, sent.stderr).toBe(0);
    expect((await spoolStatus(cloud.agentDataDir)).count).toBeGreaterThanOrEqual(files.length);
    await sleep(INTERVAL_MS);
    await cloud.startControlPlane();
    const back = await waitForGateway(
      (g) =>
        g.status === 'online' &&
        g.events.filter((e) => e.type === 'channel.connected').length > connectsBefore,
      'reconnected',
      60_000,
    );
    expect(back.status).toBe('online');
    // What was queued while the cloud was gone goes out once it is back.
    const deadline = Date.now() + 60_000;
    while ((await spoolStatus(cloud.agentDataDir)).pending.count > 0) {
      if (Date.now() > deadline) throw new Error('the spool never drained after the control plane came back');
      await sleep(500);
    }
  });

  it('a silent agent turns offline within 2 heartbeat intervals; the webhook gets signed offline and recovered events', async () => {
    await waitForGateway((g) => g.status === 'online', 'online');
    const since = Date.now();
    // SIGSTOP: the socket stays open but nothing answers, like a hung host or a cut network.
    process.kill(cloud.agent.pid, 'SIGSTOP');
    let offlineAfter: number;
    try {
      await waitForGateway((g) => g.status === 'offline', 'offline', 5 * INTERVAL_MS);
      offlineAfter = Date.now() - since;
    } finally {
      process.kill(cloud.agent.pid, 'SIGCONT');
    }
    expect(offlineAfter).toBeLessThanOrEqual(2 * INTERVAL_MS + POLL_SLACK_MS);

    const offline = await receiver.waitFor(
      (d) => d.body.type === 'gateway.offline' && d.receivedAt >= since,
      30_000,
    );
    expect(offline.signatureValid).toBe(true);
    expect(offline.headers['ferry-event']).toBe('gateway.offline');
    expect((offline.body.gateway as { id: string }).id).toBe(gatewayId);

    await waitForGateway((g) => g.status === 'online', 'online again', 30_000);
    const recovered = await receiver.waitFor(
      (d) => d.body.type === 'gateway.recovered' && d.receivedAt >= since,
      30_000,
    );
    expect(recovered.signatureValid).toBe(true);
    expect((recovered.body.gateway as { id: string }).id).toBe(gatewayId);
  });

  it('a stopped agent turns offline within 2 heartbeat intervals, once, and the webhook hears it once', async () => {
    const since = Date.now();
    await cloud.agent.stop();
    await waitForGateway((g) => g.status === 'offline', 'offline', 5 * INTERVAL_MS);
    expect(Date.now() - since).toBeLessThanOrEqual(2 * INTERVAL_MS + POLL_SLACK_MS);
    const offline = await receiver.waitFor((d) => d.body.type === 'gateway.offline' && d.receivedAt >= since);
    expect(offline.signatureValid).toBe(true);
    // Several heartbeat intervals later there is still exactly one delivery for this episode.
    await sleep(3 * INTERVAL_MS);
    const episode = receiver.deliveries.filter(
      (d) => d.body.type === 'gateway.offline' && d.receivedAt >= since,
    );
    expect(episode).toHaveLength(1);
    const ids = receiver.deliveries.map((d) => d.headers['ferry-delivery']);
    expect(new Set(ids).size).toBe(ids.length);

    await cloud.restartAgent();
    await waitForGateway((g) => g.status === 'online', 'online after restart');
    await receiver.waitFor((d) => d.body.type === 'gateway.recovered' && d.receivedAt >= since);
  });
});

describe('remote diagnostics', () => {
  let pacs: Storescp | undefined;

  afterAll(async () => {
    await pacs?.stop();
  });

  async function diagnose(request: Record<string, unknown>): Promise<{
    state: string;
    result: { ok: boolean; summary: string; code?: string; details?: Record<string, unknown> } | null;
  }> {
    const started = await cloud.api<{ id: string }>(
      'POST',
      `/api/v1/gateways/${gatewayId}/diagnostics`,
      request,
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await cloud.api<{
      state: string;
      result: { ok: boolean; summary: string; code?: string; details?: Record<string, unknown> } | null;
    }>('GET', `/api/v1/gateways/${gatewayId}/diagnostics/${started.body.id}?waitSeconds=30`);
    expect(done.status).toBe(200);
    return done.body;
  }

  it('C-ECHO from the gateway to a listed PACS, a clear failure when nothing answers, and no unlisted target', async () => {
    await waitForGateway((g) => g.status === 'online', 'online');
    pacs = await startStorescp({ port: await freePort(), outDir: cloud.root, aeTitle: 'PACS' });
    const silentPort = await freePort();
    await setGroupSettings({
      peers: [
        { name: 'Hospital PACS', aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port },
        { name: 'Retired PACS', aeTitle: 'OLDPACS', host: '127.0.0.1', port: silentPort },
      ],
    });
    // The agent checks the target against the peers it applied, so wait for them to be in force.
    await waitForGateway(
      (g) => g.configVersion !== null && g.appliedConfigVersion === g.configVersion,
      'the peers applied',
    );
    const ok = await diagnose({ kind: 'echo', peer: 'Hospital PACS' });
    expect(ok.state).toBe('done');
    expect(ok.result?.ok, ok.result?.summary).toBe(true);
    expect(ok.result?.details).toMatchObject({ status: 0, peer: 'Hospital PACS', calledAeTitle: 'PACS' });

    const nobody = await diagnose({ kind: 'echo', peer: 'Retired PACS', timeoutMs: 2000 });
    expect(nobody.state).toBe('done');
    expect(nobody.result?.ok).toBe(false);
    expect(nobody.result?.code).toBe('dicom.echo_failed');
    expect(nobody.result?.summary).toMatch(/refused|ECONNREFUSED/i);

    // A host and port nobody listed is refused before the gateway is asked.
    const unlisted = await cloud.api<{ error: { code: string } }>(
      'POST',
      `/api/v1/gateways/${gatewayId}/diagnostics`,
      { kind: 'echo', host: '127.0.0.1', port: cloud.agent.port },
    );
    expect(unlisted.status).toBe(400);
    expect(unlisted.body.error.code).toBe('diagnostic.peer_not_listed');
  });

  it('a round-trip upload test to the cloud', async () => {
    const r = await diagnose({ kind: 'upload-test' });
    expect(r.state).toBe('done');
    expect(r.result?.ok, r.result?.summary).toBe(true);
  });

  it('a log bundle of recent structured lines, without patient data', async () => {
    const r = await diagnose({ kind: 'logs', lines: 200 });
    expect(r.result?.ok).toBe(true);
    const lines = r.result?.details?.lines as Record<string, unknown>[];
    expect(Array.isArray(lines)).toBe(true);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => typeof l.event === 'string')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(CORPUS_PATIENT_NAMES.small);
  });
});
