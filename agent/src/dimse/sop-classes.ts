import { TS } from '@ferry/shared';
import type { ContextDecision, ProposedContext } from './associate.js';
import { PresentationResult, VERIFICATION_SOP_CLASS } from './pdu-types.js';

const STANDARD_ROOT = '1.2.840.10008.';
/** Standard storage SOP class roots (PS3.4 Annex B, plus the RT and implant families outside .1.1). */
const STORAGE_ROOTS = [
  '1.2.840.10008.5.1.4.1.1.',
  '1.2.840.10008.5.1.4.34.',
  '1.2.840.10008.5.1.4.43.',
  '1.2.840.10008.5.1.4.44.',
  '1.2.840.10008.5.1.4.45.',
];
const TRANSFER_SYNTAX_ROOT = '1.2.840.10008.1.2';

/** Storage SOP classes we accept: every standard one, and private ones (vendors store CSA and raw data that way). */
export function isStorageSopClass(uid: string): boolean {
  if (!uid.startsWith(STANDARD_ROOT)) return /^[0-9.]+$/.test(uid);
  return STORAGE_ROOTS.some((root) => uid.startsWith(root));
}

/** Standard transfer syntaxes only: we store bytes as sent, and must be able to read their header. */
function isAcceptableTransferSyntax(uid: string): boolean {
  return uid === TRANSFER_SYNTAX_ROOT || uid.startsWith(`${TRANSFER_SYNTAX_ROOT}.`);
}

export function decideContext(ctx: ProposedContext): ContextDecision {
  const base = { id: ctx.id, abstractSyntax: ctx.abstractSyntax, transferSyntax: '' };
  if (ctx.abstractSyntax !== VERIFICATION_SOP_CLASS && !isStorageSopClass(ctx.abstractSyntax)) {
    return { ...base, result: PresentationResult.AbstractSyntaxNotSupported };
  }
  const acceptable = ctx.transferSyntaxes.filter(isAcceptableTransferSyntax);
  const chosen = acceptable.includes(TS.ExplicitVRLittleEndian) ? TS.ExplicitVRLittleEndian : acceptable[0];
  if (!chosen) return { ...base, result: PresentationResult.TransferSyntaxesNotSupported };
  return { ...base, result: PresentationResult.Acceptance, transferSyntax: chosen };
}
