import { TS } from '@ferry/shared';
import { type ContextDecision, type ProposedContext, pdu } from './associate.js';
import { type Command, CommandField, element, encodeResponsePdu } from './command.js';
import {
  type CommitmentResult,
  encodeCommitmentResult,
  eventTypeOf,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_SOP_CLASS,
} from './commitment-dataset.js';
import { PduType, PresentationResult } from './pdu-types.js';

/** N-ACTION statuses (PS3.7 10.1.4.1.10) a storage commitment request can get. */
export const NActionStatus = {
  Success: 0x0000,
  ProcessingFailure: 0x0110,
  NoSuchSopInstance: 0x0112,
  InvalidArgumentValue: 0x0115,
  NoSuchSopClass: 0x0118,
  NoSuchActionType: 0x0123,
  ResourceLimitation: 0x0213,
} as const;

/** Any Data Set Type other than 0x0101 says a dataset follows. */
const DATASET_PRESENT = 0x0001;

/** The N-ACTION-RSP to `command` (no action reply: PS3.4 J.3.2.1 has none). */
export function encodeNActionRsp(
  contextId: number,
  command: Command,
  status: number,
  errorComment?: string,
): Buffer {
  return encodeResponsePdu(contextId, {
    commandField: CommandField.NActionRsp,
    messageId: command.messageId,
    sopClassUid: STORAGE_COMMITMENT_SOP_CLASS,
    sopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    status,
    ...(errorComment ? { errorComment } : {}),
  });
}

/** A command set (implicit VR LE) with its group length. */
function commandSet(build: (parts: Buffer[]) => void): Buffer {
  const parts: Buffer[] = [];
  build(parts);
  const body = Buffer.concat(parts);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const head: Buffer[] = [];
  element(head, 0x0000, groupLength);
  return Buffer.concat([...head, body]);
}

/**
 * P-DATA-TF PDUs carrying `bytes` as PDVs of one presentation context, each PDU within the peer's
 * maximum length (0: no limit); the last PDV is flagged last.
 */
export function pdataPdus(
  contextId: number,
  bytes: Buffer,
  isCommand: boolean,
  peerMaxPdu: number,
): Buffer[] {
  const room = peerMaxPdu > 12 ? peerMaxPdu - 6 : 1 << 20;
  const out: Buffer[] = [];
  let off = 0;
  do {
    const n = Math.min(room, bytes.length - off);
    const last = off + n >= bytes.length;
    const head = Buffer.alloc(6);
    head.writeUInt32BE(n + 2, 0);
    head[4] = contextId;
    head[5] = (isCommand ? 0x01 : 0) | (last ? 0x02 : 0);
    out.push(pdu(PduType.PData, Buffer.concat([head, bytes.subarray(off, off + n)])));
    off += n;
  } while (off < bytes.length);
  return out;
}

/** The N-EVENT-REPORT-RQ of a storage commitment result: its command and dataset PDUs. */
export function encodeEventReportRq(
  contextId: number,
  messageId: number,
  result: CommitmentResult,
  transferSyntax: string,
  peerMaxPdu: number,
): Buffer[] {
  const command = commandSet((parts) => {
    element(parts, 0x0002, Buffer.from(STORAGE_COMMITMENT_SOP_CLASS, 'latin1'));
    element(parts, 0x0100, CommandField.NEventReportRq);
    element(parts, 0x0110, messageId);
    element(parts, 0x0800, DATASET_PRESENT);
    element(parts, 0x1000, Buffer.from(STORAGE_COMMITMENT_INSTANCE, 'latin1'));
    element(parts, 0x1002, eventTypeOf(result));
  });
  return [
    ...pdataPdus(contextId, command, true, peerMaxPdu),
    ...pdataPdus(contextId, encodeCommitmentResult(result, transferSyntax), false, peerMaxPdu),
  ];
}

/**
 * Why an N-ACTION-RQ on the storage commitment context cannot be carried out before its dataset is
 * read, or undefined when it can.
 */
export function actionProblem(command: Command): { status: number; comment: string } | undefined {
  const sopClass = command.requestedSopClassUid ?? command.affectedSopClassUid;
  if (sopClass !== STORAGE_COMMITMENT_SOP_CLASS)
    return { status: NActionStatus.NoSuchSopClass, comment: 'N-ACTION is only for Storage Commitment' };
  const instance = command.requestedSopInstanceUid ?? command.affectedSopInstanceUid;
  if (instance !== STORAGE_COMMITMENT_INSTANCE)
    return {
      status: NActionStatus.NoSuchSopInstance,
      comment: `the Requested SOP Instance must be ${STORAGE_COMMITMENT_INSTANCE}`,
    };
  if (command.actionTypeId !== 1)
    return { status: NActionStatus.NoSuchActionType, comment: 'the only Action Type ID is 1' };
  return undefined;
}

/** The transfer syntaxes a commitment dataset is read in (commitment-dataset.ts). */
const COMMITMENT_SYNTAXES: readonly string[] = [
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.DeflatedExplicitVRLittleEndian,
];

/** The Storage Commitment context: accepted in the first proposed syntax we read, SCP role only. */
export function decideCommitmentContext(ctx: ProposedContext): ContextDecision {
  const chosen = ctx.transferSyntaxes.find((ts) => COMMITMENT_SYNTAXES.includes(ts));
  const base = { id: ctx.id, abstractSyntax: ctx.abstractSyntax };
  return chosen
    ? { ...base, result: PresentationResult.Acceptance, transferSyntax: chosen }
    : { ...base, result: PresentationResult.TransferSyntaxesNotSupported, transferSyntax: '' };
}
