import { randomUUID } from 'node:crypto';
import { AGENT_RELEASE_API_PATH, releaseDescriptorSchema, verifyReleaseSignature } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, gatewayStatus, gateways } from '../db/schema/index.js';

/** A connected gateway that runs an older version than the release served (0.0.0-test). */
async function connectedOldGatewayOf(t: TestApp, g: SeededGroup): Promise<{ gatewayId: string }> {
  const { gatewayId } = await enrollTestGateway(t, g);
  await t.database.db.update(gateways).set({ version: '0.0.0-old' }).where(eq(gateways.id, gatewayId));
  await t.database.db
    .insert(gatewayStatus)
    .values({ gatewayId, status: 'online', channelId: randomUUID(), connectedAt: new Date() });
  return { gatewayId };
}

describe.each(BACKENDS)('gateway upgrade route: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/upgrade`,
    caller: 'admin',
    resourceOfGroup: connectedOldGatewayOf,
    okStatus: 202,
  });
});

describe('upgrading a gateway to the served release', () => {
  let t: TestApp;
  let g: SeededGroup;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Upgrades');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends the signed release to a gateway behind it, and audits who asked', async () => {
    const { gatewayId } = await connectedOldGatewayOf(t, g);
    const res = await t.request('POST', `/api/v1/gateways/${gatewayId}/upgrade`, { token: g.admin.token });
    expect(res.status, res.text).toBe(202);
    const body = res.body as { upgradeId: string; fromVersion: string; toVersion: string };
    expect(body).toMatchObject({ fromVersion: '0.0.0-old', toVersion: '0.0.0-test' });
    const [audit] = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'gateway.upgrade'), eq(auditLog.targetId, gatewayId)));
    expect(audit?.actorId).toBe(g.admin.id);
    expect(audit?.details).toMatchObject({ upgradeId: body.upgradeId, toVersion: '0.0.0-test' });
  });

  it('sends nothing to a gateway already on the release', async () => {
    const { gatewayId } = await connectedOldGatewayOf(t, g);
    await t.database.db.update(gateways).set({ version: '0.0.0-test' }).where(eq(gateways.id, gatewayId));
    const res = await t.request('POST', `/api/v1/gateways/${gatewayId}/upgrade`, { token: g.admin.token });
    expect(res.status).toBe(202);
    expect((res.body as { upgradeId: unknown }).upgradeId).toBeNull();
  });

  it('refuses a gateway without a live channel, and a revoked one (409 gateway.offline)', async () => {
    const offline = await enrollTestGateway(t, g);
    expectError(
      await t.request('POST', `/api/v1/gateways/${offline.gatewayId}/upgrade`, { token: g.admin.token }),
      409,
      'gateway.offline',
    );
    const revoked = await connectedOldGatewayOf(t, g);
    await t.database.db
      .update(gateways)
      .set({ revokedAt: new Date() })
      .where(eq(gateways.id, revoked.gatewayId));
    expectError(
      await t.request('POST', `/api/v1/gateways/${revoked.gatewayId}/upgrade`, { token: g.admin.token }),
      409,
      'gateway.offline',
    );
  });

  it('serves the release signature beside the tarball, valid for the key enrollment hands out', async () => {
    const res = await t.app.request('/downloads/ferry-agent-linux-x64.tar.gz.sig');
    expect(res.status).toBe(200);
    const d = releaseDescriptorSchema.parse(await res.json());
    expect(d.version).toBe('0.0.0-test');
    const key = t.deps.agentRelease.signingKey;
    if (!key) throw new Error('the test app has no release signing key');
    expect(verifyReleaseSignature(key, d.version, d.sha256, d.signature)).toBe(true);
    // Another version, or another hash, under the same signature is refused.
    expect(verifyReleaseSignature(key, '9.9.9', d.sha256, d.signature)).toBe(false);
    expect(verifyReleaseSignature(key, d.version, '0'.repeat(64), d.signature)).toBe(false);
  });

  it('serves the tarball to an enrolled gateway with its token, and to nobody else at that path', async () => {
    const gw = await enrollTestGateway(t, g);
    const ok = await t.request('GET', AGENT_RELEASE_API_PATH, { token: await gw.token() });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/gzip');
    expect((await t.request('GET', AGENT_RELEASE_API_PATH)).status).toBe(401);
    expect((await t.request('GET', AGENT_RELEASE_API_PATH, { token: g.admin.token })).status).toBe(401);
  });
});
