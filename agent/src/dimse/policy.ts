import type { AeTitleAlias, UserIdentitySetting } from '@ferry/shared';

import type { ContextRules } from './sop-classes.js';

/**
 * What the listener enforces; replaced live when config changes. Its ContextRules (transfer-syntax
 * policy, private transfer syntaxes and SOP classes) decide each presentation context.
 */
export interface AssociationPolicy extends ContextRules {
  aeTitle: string;
  /** Previous titles also accepted as the called AE title, each until its expiry (none if unset). */
  aeTitleAliases?: readonly AeTitleAlias[];
  /** Empty means any calling AE title is accepted. */
  allowedCallingAeTitles: string[];
  maxAssociations: number;
  /**
   * Associations one calling AE title may hold at once, so a single caller (a flood, a runaway
   * sender) cannot take every slot and lock the other modalities out. Default: half of
   * maxAssociations, rounded up.
   */
  maxAssociationsPerCallingAe?: number;
  /**
   * Connections from one peer address that have not been associated yet (no A-ASSOCIATE-RQ
   * answered with an A-ASSOCIATE-AC). ARTIM bounds how long each may wait, not how many there
   * are, so without this one address could open sockets until the agent runs out of descriptors.
   * Associated connections do not count: a busy modality may hold many. Default
   * DEFAULT_MAX_PENDING_PER_ADDRESS.
   */
  maxPendingPerAddress?: number;
  /**
   * Connections not associated yet, from all addresses. Default PENDING_PER_ASSOCIATION times
   * maxAssociations, at least DEFAULT_MAX_PENDING_PER_ADDRESS.
   */
  maxPendingConnections?: number;
  /** Largest P-DATA-TF PDU we accept and advertise. */
  maxPduLength: number;
  /** ARTIM: time allowed for the A-ASSOCIATE-RQ after connect and for the peer to close after release. */
  artimTimeoutMs: number;
  /** An established association with no bytes for this long is aborted. */
  idleTimeoutMs: number;
  /**
   * A PDU must arrive whole within this long of its first byte. The idle timer restarts on every
   * byte, so without this a peer dribbling one byte a second holds its association for ever.
   * Default DEFAULT_PDU_TIMEOUT_MS.
   */
  pduTimeoutMs?: number;
  /** The user identity a sender must present to store (PS3.7 D.3.3.7); unset means none. */
  userIdentity?: UserIdentitySetting;
}

export const DEFAULT_PDU_TIMEOUT_MS = 60_000;

export function pduTimeoutMs(policy: AssociationPolicy): number {
  return policy.pduTimeoutMs ?? DEFAULT_PDU_TIMEOUT_MS;
}

/** The most associations one calling AE title may hold under `policy`. */
export function callingAeShare(policy: AssociationPolicy): number {
  const share = policy.maxAssociationsPerCallingAe ?? Math.ceil(policy.maxAssociations / 2);
  return Math.max(1, Math.min(share, policy.maxAssociations));
}

export const DEFAULT_MAX_PENDING_PER_ADDRESS = 16;
const PENDING_PER_ASSOCIATION = 4;

/** The pending (not yet associated) connections allowed under `policy`: per peer address and in all. */
export function pendingLimits(policy: AssociationPolicy): { perAddress: number; total: number } {
  const total =
    policy.maxPendingConnections ??
    Math.max(DEFAULT_MAX_PENDING_PER_ADDRESS, PENDING_PER_ASSOCIATION * policy.maxAssociations);
  const perAddress = policy.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS;
  return { perAddress: Math.min(perAddress, total), total };
}
