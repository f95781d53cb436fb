// What the agent reports in force when a local setting wins over its pushed config: `ferry-agent start
// --port` (loaded as start.ts loads it, flags named as start.ts names them) puts the bound port, not
// agent.json's, in every heartbeat, with `inForce.flags` saying a flag set it; a hand-edited listener
// setting is reported as it is; a pushed config then moves the listener back to the desired port.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_CONFIG_DEFAULTS, generateRecipientKeyPair } from '@ferry/shared';
import { importJWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/harness/dcmtk.js';
import { TestControlPlane, until } from '../../testkit/agent/channel-server.js';
import { silent } from '../../testkit/agent/spool.js';
import { type RunningAgent, startAgent } from './agent.js';
import { generateIdentity, saveIdentity } from './cloud/identity.js';
import { loadAgentConfig } from './config.js';

const GATEWAY_ID = '3f1d2c4b-5a69-4788-9aab-bccddeeff017';

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

describe('settings in force', () => {
  it('--port wins over agent.json and is reported in force with its flag, until a push moves the listener', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-agent-'));
    const identity = await generateIdentity();
    await saveIdentity(dir, identity);
    server = new TestControlPlane({
      publicKey: await importJWK(identity.publicJwk, 'EdDSA'),
      gatewayId: GATEWAY_ID,
    });
    server.heartbeatSeconds = 0.2;
    await server.listen();
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
