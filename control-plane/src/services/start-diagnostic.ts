import { type DiagnosticRequest, dicomPeersSchema, FerryError, findListedPeer } from '@ferry/shared';
import type { Ctx } from '../context.js';
import type { DbOrTx } from '../db/client.js';
import { notifyGateways } from '../db/notify.js';
import { latestGatewayConfig } from '../db/queries/gateways.js';
import { type DiagnosticState, gatewayDiagnostics } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireLiveGateway } from './live-gateway.js';
import { requireAdmin } from './permissions.js';

/** How long a gateway has to answer a diagnostic. */
export const DIAGNOSTIC_TTL_MS = 60_000;

/**
 * Asks a gateway of the admin's group to run a diagnostic. The request is stored and the replicas are
 * told on commit; whichever holds the gateway's channel sends it. A gateway without a live channel
 * cannot be asked (409 gateway.offline). A C-ECHO may only go to one of the gateway's listed peers
 * (400 diagnostic.peer_not_listed), so a cloud admin cannot make it probe hosts inside the hospital.
 */
export async function startDiagnostic({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { gatewayId: string; request: DiagnosticRequest };
}): Promise<{ id: string; state: DiagnosticState }> {
  const actor = requireAdmin(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const gw = await requireLiveGateway(tx, actor.groupId, input.gatewayId, 'try again when it is online');
    const request = await resolveEchoTarget(tx, gw.id, input.request);
    const [row] = await tx
      .insert(gatewayDiagnostics)
      .values({
        groupId: actor.groupId,
        gatewayId: gw.id,
        request,
        requestedBy: actor.userId,
        expiresAt: new Date(Date.now() + DIAGNOSTIC_TTL_MS),
      })
      .returning({ id: gatewayDiagnostics.id, state: gatewayDiagnostics.state });
    await notifyGateways(tx, { kind: 'diagnostic', gatewayId: gw.id, diagnosticId: row!.id });
    await writeAudit(tx, ctx, {
      action: 'gateway.diagnostic',
      targetType: 'gateway',
      targetId: gw.id,
      details: {
        diagnosticId: row!.id,
        kind: request.kind,
        ...(request.kind === 'echo' ? { peer: request.peer } : {}),
      },
    });
    return { id: row!.id, state: row!.state };
  });
}

/**
 * An echo request with its target replaced by the listed peer it names, every field spelled out (the
 * gateway checks each against its own list); other kinds as they are. The list is the gateway's latest
 * desired config, the one it is sent.
 */
async function resolveEchoTarget(
  tx: DbOrTx,
  gatewayId: string,
  request: DiagnosticRequest,
): Promise<DiagnosticRequest> {
  if (request.kind !== 'echo') return request;
  const latest = await latestGatewayConfig(tx, gatewayId);
  const listed = dicomPeersSchema.safeParse(latest?.config.peers ?? []);
  const peers = listed.success ? listed.data : [];
  const peer = findListedPeer(peers, request);
  if (!peer) {
    const asked = request.peer !== undefined ? `peer "${request.peer}"` : `${request.host}:${request.port}`;
    const names = peers.map((p) => `"${p.name}"`).join(', ');
    throw new FerryError(
      'diagnostic.peer_not_listed',
      `${asked} is not one of this gateway's DICOM peers (${names || 'it lists none'}); ` +
        'a C-ECHO may only go to a peer listed in the gateway settings (peers)',
    );
  }
  return {
    kind: 'echo',
    peer: peer.name,
    host: peer.host,
    port: peer.port,
    calledAeTitle: peer.aeTitle,
    tls: peer.tls,
    ...(request.callingAeTitle !== undefined ? { callingAeTitle: request.callingAeTitle } : {}),
    ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
  };
}
