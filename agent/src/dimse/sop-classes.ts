import { DEFAULT_PRIVATE_SOP_CLASSES, type TransferSyntaxPolicy, TS } from '@ferry/shared';
import type { ContextDecision, ProposedContext } from './associate.js';
import { STORAGE_COMMITMENT_SOP_CLASS } from './commitment-dataset.js';
import { decideCommitmentContext } from './commitment-messages.js';
import { PresentationResult, VERIFICATION_SOP_CLASS } from './pdu-types.js';
import { STANDARD_STORAGE_SOP_CLASSES } from './standard-storage-sop-classes.js';
import { STANDARD_TRANSFER_SYNTAXES, type TransferSyntaxKind } from './standard-transfer-syntaxes.js';

/** The part of the association policy that decides presentation contexts (unset: the defaults). */
export interface ContextRules {
  /** Default 'as-proposed'. */
  transferSyntaxPolicy?: TransferSyntaxPolicy;
  /** Private transfer syntaxes accepted besides PS3.6's. Default none. */
  privateTransferSyntaxes?: readonly string[];
  /** Private storage SOP classes accepted besides PS3.6's. Default DEFAULT_PRIVATE_SOP_CLASSES. */
  privateSopClasses?: readonly string[];
}

/** Just the context rules of a config or policy (what a live change compares and carries over). */
export function contextRulesOf(from: ContextRules): Required<ContextRules> {
  return {
    transferSyntaxPolicy: from.transferSyntaxPolicy ?? 'as-proposed',
    privateTransferSyntaxes: from.privateTransferSyntaxes ?? [],
    privateSopClasses: from.privateSopClasses ?? DEFAULT_PRIVATE_SOP_CLASSES,
  };
}

/** A storage SOP class of PS3.6, or a private one the rules list. */
export function isStorageSopClass(uid: string, rules: ContextRules): boolean {
  return (
    STANDARD_STORAGE_SOP_CLASSES.has(uid) ||
    (rules.privateSopClasses ?? DEFAULT_PRIVATE_SOP_CLASSES).includes(uid)
  );
}

/** A transfer syntax of PS3.6 or a listed private one: we store bytes as sent and must know their encoding. */
function isAcceptableTransferSyntax(uid: string, rules: ContextRules): boolean {
  return STANDARD_TRANSFER_SYNTAXES.has(uid) || (rules.privateTransferSyntaxes ?? []).includes(uid);
}

const kindOf = (uid: string): TransferSyntaxKind => STANDARD_TRANSFER_SYNTAXES.get(uid)?.kind ?? 'other';

/** prefer-uncompressed's order: explicit VR LE, implicit VR LE, then the other uncompressed ones. */
function uncompressedRank(uid: string): number {
  if (uid === TS.ExplicitVRLittleEndian) return 0;
  if (uid === TS.ImplicitVRLittleEndian) return 1;
  return kindOf(uid) === 'uncompressed' ? 2 : Number.POSITIVE_INFINITY;
}

/**
 * The transfer syntax to accept from those proposed, in the proposer's order: the first acceptable
 * one (as-proposed, as pynetdicom does), or the first uncompressed / compressed one when the policy
 * prefers it and one is proposed. Undefined when none is acceptable.
 */
export function chooseTransferSyntax(proposed: readonly string[], rules: ContextRules): string | undefined {
  const acceptable = proposed.filter((uid) => isAcceptableTransferSyntax(uid, rules));
  const policy = rules.transferSyntaxPolicy ?? 'as-proposed';
  if (policy === 'prefer-compressed') {
    return acceptable.find((uid) => kindOf(uid) === 'compressed') ?? acceptable[0];
  }
  if (policy === 'prefer-uncompressed') {
    let best: string | undefined;
    for (const uid of acceptable) if (uncompressedRank(uid) < uncompressedRank(best ?? '')) best = uid;
    return best ?? acceptable[0];
  }
  return acceptable[0];
}

export function decideContext(ctx: ProposedContext, rules: ContextRules): ContextDecision {
  if (ctx.abstractSyntax === STORAGE_COMMITMENT_SOP_CLASS) return decideCommitmentContext(ctx);
  const base = { id: ctx.id, abstractSyntax: ctx.abstractSyntax, transferSyntax: '' };
  if (ctx.abstractSyntax !== VERIFICATION_SOP_CLASS && !isStorageSopClass(ctx.abstractSyntax, rules)) {
    return { ...base, result: PresentationResult.AbstractSyntaxNotSupported };
  }
  const chosen = chooseTransferSyntax(ctx.transferSyntaxes, rules);
  if (!chosen) return { ...base, result: PresentationResult.TransferSyntaxesNotSupported };
  return { ...base, result: PresentationResult.Acceptance, transferSyntax: chosen };
}
