// The recipient key over the agents' channel: a gateway reporting another key than the control
// plane's current one is sent the current one at hello and on rotation; one already on it, and an
// agent older than protocol 5 (no thumbprint), are left alone; heartbeats record the key in use,
// which the gateway view compares with the current key.
import { generateRecipientKeyPair, recipientKeyThumbprint } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChannel, testHealth } from '../../../testkit/control-plane/channel-client.js';
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
import type { CurrentRecipientKey } from './gateway-channel.js';

async function keyPair(): Promise<CurrentRecipientKey> {
  const { publicJwk } = await generateRecipientKeyPair();
  return { publicJwk, thumbprint: await recipientKeyThumbprint(publicJwk) };
}

describe.each(BACKENDS)('recipient key on the channel (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let server: ChannelServer;
  let current: CurrentRecipientKey;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup();
    current = {
      publicJwk: t.deps.recipientPublicKey,
      thumbprint: await recipientKeyThumbprint(t.deps.recipientPublicKey),
    };
    server = await serveTestAppWithChannel(t, { heartbeatSeconds: 30, recipientKey: () => current });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  async function connect(reported: string | undefined) {
    const gw = await enrollTestGateway(t, g);
    const outcome = await openChannel(`${server.channelUrl}`, await gw.token());
    if (!outcome.ok) throw new Error(`refused: ${outcome.status}`);
    const { client } = outcome;
    client.send({
      type: 'hello',
      agentVersion: 'test-agent',
      configVersion: 0,
      ...(reported ? { recipientKeyThumbprint: reported } : {}),
    });
    await client.next('welcome');
    return { gw, client };
  }

  /** Nothing of `type` came: a heartbeat's ack, which the server sends after, arrives first. */
  async function expectNone(
    client: Awaited<ReturnType<typeof connect>>['client'],
    type: string,
    seq: number,
  ) {
    client.send({
      type: 'heartbeat',
      seq,
      health: testHealth({ recipientKeyThumbprint: current.thumbprint }),
    });
    await client.next('heartbeat.ack');
    expect(client.received.map((m) => m.type)).not.toContain(type);
  }

  it('sends the current key at hello to a gateway sealing for another, and records the key a heartbeat reports', async () => {
    const old = await keyPair();
    const { gw, client } = await connect(old.thumbprint);
    const msg = await client.next('recipient-key');
    expect(msg.thumbprint).toBe(current.thumbprint);
    expect(msg.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'X25519',
      x: current.publicJwk.x,
      kid: current.publicJwk.kid,
      use: 'enc',
    });
    expect(await recipientKeyThumbprint(msg.publicJwk)).toBe(msg.thumbprint);

    client.send({
      type: 'heartbeat',
      seq: 1,
      health: testHealth({ recipientKeyThumbprint: old.thumbprint }),
    });
    await client.next('heartbeat.ack');
    const stale = await t.request<{ recipientKey: unknown }>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
      token: g.admin.token,
    });
    expect(stale.body.recipientKey).toEqual({
      thumbprint: old.thumbprint,
      current: false,
      controlPlaneThumbprint: current.thumbprint,
    });
    client.send({
      type: 'heartbeat',
      seq: 2,
      health: testHealth({ recipientKeyThumbprint: current.thumbprint }),
    });
    await client.next('heartbeat.ack');
    const fresh = await t.request<{ recipientKey: unknown }>('GET', `/api/v1/gateways/${gw.gatewayId}`, {
      token: g.admin.token,
    });
    expect(fresh.body.recipientKey).toEqual({
      thumbprint: current.thumbprint,
      current: true,
      controlPlaneThumbprint: current.thumbprint,
    });
    await client.close();
  });

  it('leaves alone a gateway on the current key and an agent that reports none; on rotation it sends the new key', async () => {
    const onIt = await connect(current.thumbprint);
    const legacy = await connect(undefined);
    await expectNone(onIt.client, 'recipient-key', 1);
    await expectNone(legacy.client, 'recipient-key', 1);

    current = await keyPair();
    server.hub.recipientKeyRotated();
    expect((await onIt.client.next('recipient-key')).thumbprint).toBe(current.thumbprint);
    // The heartbeat above reported the old current key: the legacy agent now reports one, and gets it.
    expect((await legacy.client.next('recipient-key')).thumbprint).toBe(current.thumbprint);
    await onIt.client.close();
    await legacy.client.close();
  });
});
