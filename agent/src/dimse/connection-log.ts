import type { Logger } from 'pino';
import type { AssociateRequest } from './associate.js';
import type { AssociationRejection } from './association-accept.js';
import type { Command } from './command.js';
import { Status, type StoreOutcome } from './store-handler.js';

/** Names one association in every line it logs. */
export interface AssociationIds {
  assoc: string;
  peer: string;
}

export interface AssociationStats {
  stored: number;
  failed: number;
  bytes: number;
}

export function logAssociationAccepted(
  log: Logger,
  ids: AssociationIds,
  req: AssociateRequest,
  contexts: { proposed: number; accepted: number },
): void {
  log.info(
    {
      event: 'dicom.association_accepted',
      ...ids,
      callingAe: req.callingAeTitle,
      calledAe: req.calledAeTitle,
      contexts: contexts.proposed,
      accepted: contexts.accepted,
      peerMaxPdu: req.maxPduLength,
      ...(req.userIdentity ? { userIdentityType: req.userIdentity.type } : {}),
    },
    'association accepted',
  );
}

export function logAssociationRejected(
  log: Logger,
  ids: AssociationIds,
  req: AssociateRequest | undefined,
  { result, source, reason, why }: AssociationRejection,
): void {
  log.warn(
    {
      event: 'dicom.association_rejected',
      ...ids,
      callingAe: req?.callingAeTitle,
      calledAe: req?.calledAeTitle,
      reason: why,
      result,
      source,
      rejectReason: reason,
    },
    'association rejected',
  );
}

export function logAssociationClosed(
  log: Logger,
  ids: AssociationIds,
  req: AssociateRequest,
  end: { released: boolean; ms: number; stats: AssociationStats },
): void {
  log.info(
    {
      event: 'dicom.association_closed',
      ...ids,
      callingAe: req.callingAeTitle,
      calledAe: req.calledAeTitle,
      released: end.released,
      ms: end.ms,
      ...end.stats,
    },
    'association closed',
  );
}

/** One line per C-STORE, after its response went out: the sender is waiting, the log line is not. */
export function logStore(
  log: Logger,
  assoc: string,
  callingAe: string | undefined,
  command: Command,
  outcome: StoreOutcome,
  sent: { bytes: number; started: number },
): void {
  const ok = outcome.status === Status.Success;
  log[ok ? 'info' : 'warn'](
    {
      event: 'dicom.store',
      assoc,
      callingAe,
      sopClassUid: command.affectedSopClassUid,
      sopInstanceUid: command.affectedSopInstanceUid,
      objectId: outcome.objectId,
      bytes: sent.bytes,
      ms: Date.now() - sent.started,
      status: `0x${outcome.status.toString(16).padStart(4, '0')}`,
      duplicate: outcome.duplicate,
      version: outcome.version,
      error: outcome.errorComment,
    },
    'instance',
  );
}
