// The agent as start.ts composes it, enrolled with a control plane that is a small real websocket
// server (testing/channel-server.ts): the channel comes up with the applied version, heartbeats carry
// the real health report, a pushed AE title reaches the real DICOM listener and agent.json, and a
// reenroll discards the identity and stops uploads and the channel while receiving goes on.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_CONFIG_DEFAULTS, generateRecipientKeyPair, PROTOCOL_VERSION } from '@ferry/shared';
import { importJWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/harness/dcmtk.js';
import { RawScu, verificationContext } from '../../test/harness/raw-scu.js';
import { TestControlPlane, until } from '../../testkit/agent/channel-server.js';
import { silent } from '../../testkit/agent/spool.js';
import { type RunningAgent, startAgent } from './agent.js';
import { generateIdentity, loadIdentity, saveIdentity } from './cloud/identity.js';
import { loadAgentConfig } from './config.js';
import { LogRing } from './logger.js';

const GATEWAY_ID = '3f1d2c4b-5a69-4788-9aab-bccddeeff001';

let dir: string | undefined;
let server: TestControlPlane | undefined;
let agent: RunningAgent | undefined;

afterEach(async () => {
  await agent?.stop();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  agent = undefined;
  server = undefined;
  dir = undefined;
});

async function associates(port: number, calledAe: string): Promise<boolean> {
  const scu = await RawScu.connect(port);
  try {
    const outcome = await scu.associate({ calledAe, contexts: [verificationContext()] });
    if (outcome.kind !== 'accepted') return false;
    await scu.release();
    return true;
  } finally {
    scu.destroy();
  }
}

/** A data directory with an identity, and the test control plane that knows it (heartbeats every 0.2 s). */
async function enrolledWithServer(): Promise<{ dir: string; server: TestControlPlane }> {
  dir = await mkdtemp(join(tmpdir(), 'ferry-agent-'));
  const identity = await generateIdentity();
  await saveIdentity(dir, identity);
  server = new TestControlPlane({
    publicKey: await importJWK(identity.publicJwk, 'EdDSA'),
    gatewayId: GATEWAY_ID,
  });
  server.heartbeatSeconds = 0.2;
  await server.listen();
  return { dir, server };
}

describe('an enrolled agent', () => {
  it('runs the channel: hello, real health, a pushed AE title applied live, reenroll', async () => {
    const { dir, server } = await enrolledWithServer();
    const port = await freePort();
    const { publicJwk } = await generateRecipientKeyPair();
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({
        aeTitle: 'OLD_AE',
        host: '127.0.0.1',
        port,
        recipientPublicKey: publicJwk,
        server: server.url,
        gatewayId: GATEWAY_ID,
        configVersion: 1,
      }),
    );
    agent = await startAgent(dir, await loadAgentConfig(dir), silent, { logs: new LogRing(100) });
    expect(agent.channel).toBeDefined();
    expect(agent.uploader).toBeDefined();

    const conn = await until('a connection', () => server?.conns[0]);
    expect(await until('hello', () => server?.of(conn, 'hello')[0])).toMatchObject({ configVersion: 1 });
    // The test server parses every message with the shared schema: the health report is valid.
    const beat = await until('a heartbeat', () => server?.of(conn, 'heartbeat')[0]);
    expect(beat.health).toMatchObject({
      configVersion: 1,
      dicom: { listening: true, aeTitle: 'OLD_AE', port },
      clockOffsetMs: null,
    });
    await until('an offset', () =>
      server?.of(conn, 'heartbeat').some((b) => b.health.clockOffsetMs !== null),
    );

    server.send(conn, {
      type: 'config',
      version: 2,
      config: { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'NEW_AE', port },
    });
    expect(await until('applied', () => server?.of(conn, 'config.applied')[0])).toEqual({
      type: 'config.applied',
      v: PROTOCOL_VERSION,
      version: 2,
    });
    expect(await associates(port, 'NEW_AE')).toBe(true);
    expect(await associates(port, 'OLD_AE')).toBe(false);
    const saved = JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({
      aeTitle: 'NEW_AE',
      configVersion: 2,
      server: server.url,
      gatewayId: GATEWAY_ID,
    });
    await until('a heartbeat on version 2', () =>
      server
        ?.of(conn, 'heartbeat')
        .some((b) => b.health.configVersion === 2 && b.health.dicom.aeTitle === 'NEW_AE'),
    );

    // A diagnostic goes through the real runner.
    const id = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
    server.send(conn, { type: 'diagnostic.request', id, request: { kind: 'logs', lines: 50 } });
    const result = await until('the log bundle', () => server?.of(conn, 'diagnostic.result')[0]);
    expect(result.result.ok).toBe(true);

    // Revoked: the identity goes, uploads and the channel stop, receiving goes on.
    server.send(conn, { type: 'reenroll', message: 'gateway revoked' });
    expect((await conn.closed).code).toBe(1000);
    await until('identity discarded', () => agent?.uploader?.state === 'stopped' || undefined);
    expect(await loadIdentity(dir)).toBeUndefined();
    expect(agent.channel?.state).toBe('stopped');
    expect(await associates(port, 'NEW_AE')).toBe(true);
    expect(server.upgrades).toBe(1);
  });

  it('runs no channel when not enrolled', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-agent-'));
    const { publicJwk } = await generateRecipientKeyPair();
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({ host: '127.0.0.1', port: await freePort(), recipientPublicKey: publicJwk }),
    );
    agent = await startAgent(dir, await loadAgentConfig(dir), silent);
    expect(agent.channel).toBeUndefined();
    expect(agent.uploader).toBeUndefined();
    expect(agent.applier.appliedVersion()).toBe(0);
  });

  // What it reports in force when a local setting wins over its pushed config: `ferry-agent start
  // --port` (loaded as start.ts loads it, the flag named as start.ts names it) puts the bound port in
  // every heartbeat with `inForce.flags`; a hand-edited limit is reported as it is; a push moves it back.
  it('--port wins over agent.json and is reported in force with its flag, until a push moves the listener', async () => {
    const { dir, server } = await enrolledWithServer();
    const [filePort, flagPort] = [await freePort(), await freePort()];
    const { publicJwk } = await generateRecipientKeyPair();
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({
        aeTitle: 'SITE_AE',
        host: '127.0.0.1',
        port: filePort,
        // Hand-edited: the pushed version 1 said 32.
        maxAssociations: 7,
        allowedCallingAeTitles: ['CT1'],
        recipientPublicKey: publicJwk,
        server: server.url,
        gatewayId: GATEWAY_ID,
        configVersion: 1,
      }),
    );
    agent = await startAgent(dir, await loadAgentConfig(dir, { port: flagPort }), silent, {
      flagOverrides: ['port'],
    });
    expect(agent.address.port).toBe(flagPort);

    const conn = await until('a connection', () => server?.conns[0]);
    // The test server parses every message with the shared schema: the new field is valid.
    const beat = await until('a heartbeat', () => server?.of(conn, 'heartbeat')[0]);
    expect(beat.health.configVersion).toBe(1);
    expect(beat.health.dicom).toMatchObject({ aeTitle: 'SITE_AE', port: flagPort });
    expect(beat.health.inForce).toEqual({
      maxAssociations: 7,
      allowedCallingAeTitles: ['CT1'],
      flags: ['port'],
    });

    // A pushed config is applied whole: the listener moves to the desired port and limits.
    server.send(conn, {
      type: 'config',
      version: 2,
      config: { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'SITE_AE', port: filePort },
    });
    const after = await until('a heartbeat on version 2', () =>
      server?.of(conn, 'heartbeat').find((b) => b.health.configVersion === 2),
    );
    expect(after.health.dicom.port).toBe(filePort);
    expect(after.health.inForce).toMatchObject({
      maxAssociations: GATEWAY_CONFIG_DEFAULTS.maxAssociations,
      allowedCallingAeTitles: [],
    });
  });
});
