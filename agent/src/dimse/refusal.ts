import type { Logger } from 'pino';
import { type Command, CommandField, encodeResponsePdu, RESPONSE_BIT } from './command.js';
import { Status } from './store-handler.js';

/** A failure response for a request we do not carry out; its dataset, if any, is read and dropped. */
export interface Refusal {
  commandField: number;
  status: number;
  errorComment: string;
}

export const hexField = (field: number): string => `0x${field.toString(16).padStart(4, '0')}`;

/**
 * The answer to a command other than C-STORE-RQ or C-ECHO-RQ: 0x0211 (Unrecognized operation) in
 * the matching response. C-CANCEL-RQ and responses have no answer in DIMSE (undefined).
 */
export function unsupportedRefusal(command: Command): Refusal | undefined {
  const field = command.commandField;
  if (field === CommandField.CCancelRq || (field & RESPONSE_BIT) !== 0) return undefined;
  return {
    commandField: field | RESPONSE_BIT,
    status: Status.UnrecognizedOperation,
    errorComment: `DIMSE operation ${hexField(field)} is not supported`,
  };
}

/** The refusal's response PDU: Message ID Being Responded To, and the request's SOP class and instance when present. */
export function encodeRefusal(contextId: number, command: Command, refusal: Refusal): Buffer {
  return encodeResponsePdu(contextId, {
    commandField: refusal.commandField,
    messageId: command.messageId,
    sopClassUid: command.affectedSopClassUid,
    ...(command.affectedSopInstanceUid ? { sopInstanceUid: command.affectedSopInstanceUid } : {}),
    status: refusal.status,
    errorComment: refusal.errorComment,
  });
}

/** Logs a command we do not carry out, and whether it was answered. */
export function logUnsupported(
  log: Logger,
  at: { assoc: string; peer: string },
  command: Command,
  refusal: Refusal | undefined,
): void {
  log.warn(
    {
      event: 'dicom.command_unsupported',
      ...at,
      commandField: hexField(command.commandField),
      messageId: command.messageId,
      answered: refusal !== undefined,
    },
    refusal ? 'DIMSE operation not supported; answered 0x0211' : 'DIMSE message ignored',
  );
}
