import { randomUUID } from 'node:crypto';
import { GATEWAY_CONFIG_DEFAULTS } from '@ferry/shared';
import { describe } from 'vitest';
import {
  BACKENDS,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { configVersions, gatewayDiagnostics, gatewayStatus } from '../db/schema/index.js';

/** A gateway whose status names a channel, as if it were connected to some replica. */
async function connectedGatewayOf(t: TestApp, g: SeededGroup): Promise<{ gatewayId: string }> {
  const { gatewayId } = await enrollTestGateway(t, g);
  await t.database.db
    .insert(gatewayStatus)
    .values({ gatewayId, status: 'online', channelId: randomUUID(), connectedAt: new Date() });
  return { gatewayId };
}

/** A connected gateway whose desired config lists one DICOM peer, the only one it may C-ECHO. */
async function connectedGatewayWithPeerOf(t: TestApp, g: SeededGroup): Promise<{ gatewayId: string }> {
  const { gatewayId } = await connectedGatewayOf(t, g);
  const peers = [{ name: 'PACS', aeTitle: 'PACS', host: 'pacs.example', port: 104, tls: false }];
  await t.database.db
    .insert(configVersions)
    .values({ gatewayId, version: 1, config: { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'GW', peers } });
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
    method: 'POST',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/diagnostics`,
    body: { kind: 'echo', peer: 'PACS' },
    caller: 'admin',
    resourceOfGroup: connectedGatewayWithPeerOf,
    okStatus: 202,
    name: 'POST /api/v1/gateways/{id}/diagnostics (C-ECHO to a listed peer)',
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/gateways/${ids.gatewayId}/diagnostics/${ids.diagnosticId}`,
    caller: 'admin',
    resourceOfGroup: diagnosticOf,
    okStatus: 200,
  });
});
