import { randomUUID } from 'node:crypto';
import { describe } from 'vitest';
import { gatewayDiagnostics, gatewayStatus } from '../db/schema/index.js';
import { BACKENDS, enrollTestGateway, type SeededGroup, type TestApp } from '../testing/harness.js';
import { runCommonRouteTests } from '../testing/security-suite.js';

/** A gateway whose status names a channel, as if it were connected to some replica. */
async function connectedGatewayOf(t: TestApp, g: SeededGroup): Promise<{ gatewayId: string }> {
  const { gatewayId } = await enrollTestGateway(t, g);
  await t.database.db
    .insert(gatewayStatus)
    .values({ gatewayId, status: 'online', channelId: randomUUID(), connectedAt: new Date() });
  return { gatewayId };
}

async function diagnosticOf(
  t: TestApp,
  g: SeededGroup,
): Promise<{ gatewayId: string; diagnosticId: string }> {
  const { gatewayId } = await enrollTestGateway(t, g);
  const [row] = await t.database.db
    .insert(gatewayDiagnostics)
    .values({
      groupId: g.groupId,
      gatewayId,
      request: { kind: 'logs' },
      expiresAt: new Date(Date.now() + 60_000),
    })
    .returning({ id: gatewayDiagnostics.id });
  return { gatewayId, diagnosticId: row!.id };
}

describe.each(BACKENDS)('gateway diagnostics routes: common security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/diagnostics`,
    body: { kind: 'upload-test' },
    caller: 'admin',
    resourceOfGroup: connectedGatewayOf,
    okStatus: 202,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/diagnostics/${ids.diagnosticId}`,
    caller: 'admin',
    resourceOfGroup: diagnosticOf,
    okStatus: 200,
  });
});
