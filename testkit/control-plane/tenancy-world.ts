/**
 * The seeded world of the tenancy table (routes/tenancy.test.ts): group A with one of everything a
 * route can address (facility, gateway with a live channel, stored study, enrollment tokens, webhook
 * with a delivery, diagnostic, open upload, upload test, users, audit rows, an open alert, alert
 * channels), group B with its own
 * facility, gateway and study (for "B's parent id, A's child id" requests), and a platform operator in
 * group C. Everything is made once per backend through the real routes where a route exists.
 *
 * Requests go in process (requests.ts `send`) through the app of serveTestAppWithChannel, which is the
 * only app that serves the agents' channel route too. No vitest import here.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { systemCtx } from '../../control-plane/src/context.js';
import { alerts, webhookDeliveries } from '../../control-plane/src/db/schema/index.js';
import type { AppEnv } from '../../control-plane/src/edge/types.js';
import { syncAlerts } from '../../control-plane/src/services/sync-alerts.js';
import { type ChannelClient, connectGateway } from './channel-client.js';
import { type ChannelServer, serveTestAppWithChannel } from './channel-server.js';
import {
  type Backend,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type SendOptions,
  type SendResult,
  seedFacility,
  seedOperator,
  send,
  type TestApp,
  type TestGateway,
} from './harness.js';
import { newTestUid, type SealedTestObject, sealTestObject } from './seal-object.js';
import { seedGatewayStatus } from './seed-gateway-status.js';
import { seedStoredInstance } from './seed-stored-study.js';

export interface GroupStudy {
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  patientName: string;
  patientId: string;
  accessionNumber: string;
}

export interface TenancyWorld {
  t: TestApp;
  server: ChannelServer;
  /** The app every request of the table goes to (with the channel route). */
  app: OpenAPIHono<AppEnv>;
  a: SeededGroup;
  b: SeededGroup;
  /** Group C's admin is a platform operator. */
  operator: SeededGroup;
  gwA: TestGateway;
  gwB: TestGateway;
  channelA: ChannelClient;
  channelB: ChannelClient;
  /** Group A's resources, by what the table's rows call them. */
  A: {
    groupName: string;
    facilityId: string;
    facilityName: string;
    aeTitle: string;
    /** Facilities without gateways, one per deleting row. */
    facilityToDelete: string;
    facilityToDeleteInConsole: string;
    gatewayId: string;
    hostname: string;
    /** Gateways of the facility above, one per revoking row. */
    gatewayToRevoke: string;
    gatewayToRevokeInConsole: string;
    study: GroupStudy;
    /** The stored instance as an agent offers it (same SOP Instance UID and hash). */
    storedOffer: SealedTestObject['offer'];
    tokenId: string;
    tokenToRevoke: string;
    tokenToRevokeInConsole: string;
    tokenToRevokeUnderOtherFacility: string;
    webhookId: string;
    webhookUrl: string;
    webhookToDelete: string;
    webhookToDeleteInConsole: string;
    deliveryId: string;
    /** An open gateway.offline alert, of an offline gateway of the facility above. */
    alertId: string;
    alertHostname: string;
    /** An e-mail alert channel, and channels to remove (one per removing row). */
    channelId: string;
    channelLabel: string;
    channelToDelete: string;
    channelToDeleteInConsole: string;
    diagnosticId: string;
    /** An upload offered by A's gateway and not yet completed. */
    upload: { objectId: string; uploadId: string; objectSha256: string };
    /** That upload's object as the agent offers it. */
    pendingOffer: SealedTestObject['offer'];
    uploadTestId: string;
    /** A reader the console deactivates. */
    userToDeactivate: { id: string; email: string };
    settings: { maxAssociations: number };
  };
  B: {
    facilityId: string;
    gatewayId: string;
    study: GroupStudy;
  };
  /** Every identifier and name of group A that no other group may ever see. */
  secretsOfA: string[];
  /** Group B's, for the channel check the other way round. */
  secretsOfB: string[];
  close(): Promise<void>;
}

async function expectStatus(what: string, res: SendResult, status: number): Promise<void> {
  if (res.status !== status) throw new Error(`seeding ${what}: ${res.status} ${res.text.slice(0, 300)}`);
}

async function seedStudy(
  t: TestApp,
  where: { groupId: string; facilityId: string },
  name: string,
): Promise<GroupStudy & { offer: SealedTestObject['offer'] }> {
  const study = {
    studyUid: newTestUid(),
    seriesUid: newTestUid(),
    sopUid: newTestUid(),
    patientName: `${name}^PATIENT`,
    patientId: `${name}-PID-7`,
    accessionNumber: `${name}-ACC-7`,
  };
  const stored = await seedStoredInstance(t, where, {
    sample: 'MR_small.dcm',
    set: {
      studyInstanceUid: study.studyUid,
      seriesInstanceUid: study.seriesUid,
      sopInstanceUid: study.sopUid,
      patientName: study.patientName,
      patientId: study.patientId,
      accessionNumber: study.accessionNumber,
      studyDescription: `${name} study`,
      instanceNumber: 1,
    },
  });
  return { ...study, offer: stored.sealed.offer };
}

export async function seedTenancyWorld(backend: Backend): Promise<TenancyWorld> {
  const t = await createTestApp(backend);
  let server: ChannelServer | undefined;
  const channels: ChannelClient[] = [];
  try {
    server = await serveTestAppWithChannel(t);
    const app = server.app;
    const secret = t.deps.sessionSecret;
    const call = (method: string, path: string, opts: SendOptions) => send(app, secret, method, path, opts);

    const a = await t.seedGroup('Alpha Tenancy Group');
    const b = await t.seedGroup('Bravo Tenancy Group');
    const operator = await seedOperator(t, 'Charlie Operators');
    const asA = { token: a.admin.token };

    const fA = await seedFacility(t, a, { name: 'Alpha Tenancy Hospital', aeTitle: 'ALPHATENANCY' });
    const fADelete = await seedFacility(t, a, { name: 'Alpha Spare One', aeTitle: 'ALPHASPARE1' });
    const fADeleteConsole = await seedFacility(t, a, { name: 'Alpha Spare Two', aeTitle: 'ALPHASPARE2' });
    const fB = await seedFacility(t, b, { name: 'Bravo Tenancy Clinic', aeTitle: 'BRAVOTENANCY' });
    const inA = { facilityId: fA.facilityId };
    const gwA = await enrollTestGateway(t, a, { ...inA, hostname: 'alpha-tenancy-gw' });
    const gwARevoke = await enrollTestGateway(t, a, { ...inA, hostname: 'alpha-spare-gw-1' });
    const gwARevokeConsole = await enrollTestGateway(t, a, { ...inA, hostname: 'alpha-spare-gw-2' });
    const gwB = await enrollTestGateway(t, b, { facilityId: fB.facilityId, hostname: 'bravo-tenancy-gw' });

    const studyA = await seedStudy(t, { groupId: a.groupId, ...inA }, 'ALPHATENANCY');
    const { offer: _offerB, ...studyB } = await seedStudy(
      t,
      { groupId: b.groupId, facilityId: fB.facilityId },
      'BRAVOTENANCY',
    );

    const newToken = async () => {
      const res = await call('POST', `/api/v1/facilities/${fA.facilityId}/enrollment-tokens`, {
        ...asA,
        json: { expiresInHours: 1, maxUses: 1 },
      });
      await expectStatus('an enrollment token', res, 201);
      return (res.body as { id: string }).id;
    };
    const tokens = [await newToken(), await newToken(), await newToken(), await newToken()];

    const webhookUrl = 'https://alpha-tenancy.example/hooks/ferry';
    const newWebhook = async (url: string) => {
      const res = await call('POST', '/api/v1/webhooks', { ...asA, json: { url } });
      await expectStatus('a webhook', res, 201);
      return (res.body as { id: string }).id;
    };
    const webhookId = await newWebhook(webhookUrl);
    const webhookToDelete = await newWebhook('https://alpha-tenancy.example/hooks/spare');
    const webhookToDeleteInConsole = await newWebhook('https://alpha-tenancy.example/hooks/spare-2');
    const [delivery] = await t.database.db
      .insert(webhookDeliveries)
      .values({
        webhookId,
        groupId: a.groupId,
        eventKey: `gateway.offline:${gwA.gatewayId}:1`,
        eventType: 'gateway.offline',
        payload: { gatewayId: gwA.gatewayId, hostname: 'alpha-tenancy-gw' },
      })
      .returning({ id: webhookDeliveries.id });

    // An open alert, made the way the alerts job makes it: a gateway that was online went offline.
    const alertHostname = 'alpha-alert-gw';
    const gwAAlert = await enrollTestGateway(t, a, { ...inA, hostname: alertHostname });
    await seedGatewayStatus(t.database.db, gwAAlert.gatewayId, { status: 'offline' });
    await syncAlerts({ ctx: systemCtx(t.database.db, pino({ level: 'silent' }), 'tenancy'), input: {} });
    const [alert] = await t.database.db
      .select({ id: alerts.id })
      .from(alerts)
      .where(eq(alerts.gatewayId, gwAAlert.gatewayId));
    if (!alert) throw new Error('seeding an alert: the sync opened none');

    const newChannel = async (target: string) => {
      const res = await call('POST', '/api/v1/notification-channels', {
        ...asA,
        json: { kind: 'email', target },
      });
      await expectStatus('a notification channel', res, 201);
      return (res.body as { id: string }).id;
    };
    const channelLabel = 'oncall@alpha-tenancy.example';
    const channelId = await newChannel(channelLabel);
    const channelToDelete = await newChannel('spare-1@alpha-tenancy.example');
    const channelToDeleteInConsole = await newChannel('spare-2@alpha-tenancy.example');

    const settings = { maxAssociations: 11 };
    await expectStatus(
      'group settings',
      await call('PUT', '/api/v1/settings/gateways', { ...asA, json: settings }),
      200,
    );

    const userRes = await call('POST', '/api/v1/users', {
      ...asA,
      json: {
        email: 'alpha-tenancy-spare@example.test',
        password: randomBytes(12).toString('hex'),
        role: 'reader',
      },
    });
    await expectStatus('a user', userRes, 201);
    const spareUser = userRes.body as { id: string; email: string };

    // Live channels: a diagnostic needs one, and they show what each group's gateway is sent.
    const connectedA = await connectGateway(server.channelUrl, gwA);
    channels.push(connectedA.client);
    const connectedB = await connectGateway(server.channelUrl, gwB);
    channels.push(connectedB.client);

    const diagRes = await call('POST', `/api/v1/gateways/${gwA.gatewayId}/diagnostics`, {
      ...asA,
      json: { kind: 'upload-test' },
    });
    await expectStatus('a diagnostic', diagRes, 202);
    const diagnosticId = (diagRes.body as { id: string }).id;

    // An upload A's gateway has offered and not completed yet.
    const pending = await sealTestObject({
      recipientPublicKey: t.deps.recipientPublicKey,
      sample: 'MR_small.dcm',
      set: {
        studyInstanceUid: studyA.studyUid,
        seriesInstanceUid: studyA.seriesUid,
        sopInstanceUid: newTestUid(),
      },
    });
    const offerRes = await call('POST', '/api/v1/agents/uploads', {
      token: await gwA.token(),
      json: { objects: [pending.offer] },
    });
    await expectStatus('an upload offer', offerRes, 200);
    const offered = (offerRes.body as { objects: { status: string; uploadId?: string }[] }).objects[0];
    if (offered?.status !== 'upload' || !offered.uploadId)
      throw new Error(`seeding an upload: ${offerRes.text.slice(0, 300)}`);

    // An upload test whose bytes are in the store, waiting for verify.
    const testRes = await call('POST', '/api/v1/agents/diagnostics/upload-test', {
      token: await gwA.token(),
    });
    await expectStatus('an upload test', testRes, 200);
    const test = testRes.body as { testId: string; url: string; bytes: number };
    const testBytes = randomBytes(test.bytes);
    const put = await app.request(test.url, {
      method: 'PUT',
      body: new Uint8Array(testBytes),
      headers: { 'content-length': String(test.bytes) },
    });
    if (!put.ok) throw new Error(`seeding an upload test: PUT ${put.status} ${await put.text()}`);

    const A: TenancyWorld['A'] = {
      groupName: a.name,
      facilityId: fA.facilityId,
      facilityName: fA.name,
      aeTitle: fA.aeTitle,
      facilityToDelete: fADelete.facilityId,
      facilityToDeleteInConsole: fADeleteConsole.facilityId,
      gatewayId: gwA.gatewayId,
      hostname: 'alpha-tenancy-gw',
      gatewayToRevoke: gwARevoke.gatewayId,
      gatewayToRevokeInConsole: gwARevokeConsole.gatewayId,
      study: {
        studyUid: studyA.studyUid,
        seriesUid: studyA.seriesUid,
        sopUid: studyA.sopUid,
        patientName: studyA.patientName,
        patientId: studyA.patientId,
        accessionNumber: studyA.accessionNumber,
      },
      storedOffer: studyA.offer,
      tokenId: tokens[0]!,
      tokenToRevoke: tokens[1]!,
      tokenToRevokeInConsole: tokens[2]!,
      tokenToRevokeUnderOtherFacility: tokens[3]!,
      webhookId,
      webhookUrl,
      webhookToDelete,
      webhookToDeleteInConsole,
      deliveryId: delivery!.id,
      alertId: alert.id,
      alertHostname,
      channelId,
      channelLabel,
      channelToDelete,
      channelToDeleteInConsole,
      diagnosticId,
      upload: { objectId: pending.objectId, uploadId: offered.uploadId, objectSha256: pending.objectSha256 },
      pendingOffer: pending.offer,
      uploadTestId: test.testId,
      userToDeactivate: { id: spareUser.id, email: spareUser.email },
      settings,
    };
    const B: TenancyWorld['B'] = { facilityId: fB.facilityId, gatewayId: gwB.gatewayId, study: studyB };
    const secretsOfA = [
      a.groupId,
      a.name,
      a.admin.id,
      a.admin.email,
      a.reader.id,
      a.reader.email,
      A.userToDeactivate.id,
      A.userToDeactivate.email,
      A.facilityId,
      A.facilityName,
      A.aeTitle,
      A.facilityToDelete,
      A.facilityToDeleteInConsole,
      fADelete.name,
      fADeleteConsole.name,
      fADelete.aeTitle,
      fADeleteConsole.aeTitle,
      A.gatewayId,
      A.hostname,
      A.gatewayToRevoke,
      A.gatewayToRevokeInConsole,
      'alpha-spare-gw-1',
      'alpha-spare-gw-2',
      ...Object.values(A.study),
      A.storedOffer.objectId,
      A.storedOffer.sha256,
      ...tokens,
      A.webhookId,
      A.webhookToDelete,
      A.webhookToDeleteInConsole,
      'alpha-tenancy.example',
      A.deliveryId,
      A.alertId,
      gwAAlert.gatewayId,
      alertHostname,
      A.channelId,
      A.channelToDelete,
      A.channelToDeleteInConsole,
      A.diagnosticId,
      A.upload.objectId,
      A.upload.uploadId,
      A.uploadTestId,
      createHash('sha256').update(testBytes).digest('hex'),
    ];
    const secretsOfB = [
      b.groupId,
      b.name,
      b.admin.id,
      b.admin.email,
      fB.facilityId,
      fB.name,
      fB.aeTitle,
      gwB.gatewayId,
      'bravo-tenancy-gw',
      ...Object.values(studyB),
    ];
    const srv = server;
    return {
      t,
      server: srv,
      app,
      a,
      b,
      operator,
      gwA,
      gwB,
      channelA: connectedA.client,
      channelB: connectedB.client,
      A,
      B,
      secretsOfA,
      secretsOfB,
      close: async () => {
        try {
          for (const c of channels) await c.close();
          await srv.close();
        } finally {
          await t.close();
        }
      },
    };
  } catch (err) {
    for (const c of channels) await c.close().catch(() => {});
    await server?.close().catch(() => {});
    await t.close().catch(() => {});
    throw err;
  }
}
