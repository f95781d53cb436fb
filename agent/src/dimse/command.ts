import { FerryError } from '@ferry/shared';
import { PduType } from './pdu-types.js';

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  /** C-CANCEL-RQ: has no response (PS3.7 9.3.2.3). */
  CCancelRq: 0x0fff,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
} as const;
/** Set in every response's Command Field: a request's response is its field | 0x8000. */
export const RESPONSE_BIT = 0x8000;
export const NO_DATASET = 0x0101;

export interface Command {
  commandField: number;
  messageId: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  dataSetType: number;
  priority: number;
  moveOriginatorAeTitle: string;
  /** N-service requests name their target with Requested (0000,0003)/(0000,1001), not Affected. */
  requestedSopClassUid?: string;
  requestedSopInstanceUid?: string;
  /** (0000,1008) of N-ACTION, (0000,1002) of N-EVENT-REPORT. */
  actionTypeId?: number;
  eventTypeId?: number;
  /** Responses: Status (0000,0900) and Message ID Being Responded To (0000,0120). */
  status?: number;
  respondingTo?: number;
}

function text(buf: Buffer): string {
  return buf.toString('latin1').replace(/[\0 ]+$/, '');
}

/** Command sets are always implicit VR little endian (PS3.7 6.3.1); we read only the fields we act on. */
export function parseCommand(bytes: Buffer): Command {
  const cmd: Command = {
    commandField: -1,
    messageId: -1,
    affectedSopClassUid: '',
    affectedSopInstanceUid: '',
    dataSetType: NO_DATASET,
    priority: 0,
    moveOriginatorAeTitle: '',
  };
  let off = 0;
  while (off + 8 <= bytes.length) {
    const group = bytes.readUInt16LE(off);
    const element = bytes.readUInt16LE(off + 2);
    const len = bytes.readUInt32LE(off + 4);
    const start = off + 8;
    if (group !== 0 || start + len > bytes.length) {
      throw new FerryError(
        'dicom.pdu_malformed',
        `command set element (${group.toString(16)},${element.toString(16)}) is malformed`,
      );
    }
    const v = bytes.subarray(start, start + len);
    switch (element) {
      case 0x0002:
        cmd.affectedSopClassUid = text(v);
        break;
      case 0x0003:
        cmd.requestedSopClassUid = text(v);
        break;
      case 0x0100:
        if (len >= 2) cmd.commandField = v.readUInt16LE(0);
        break;
      case 0x0110:
        if (len >= 2) cmd.messageId = v.readUInt16LE(0);
        break;
      case 0x0120:
        if (len >= 2) cmd.respondingTo = v.readUInt16LE(0);
        break;
      case 0x0700:
        if (len >= 2) cmd.priority = v.readUInt16LE(0);
        break;
      case 0x0800:
        if (len >= 2) cmd.dataSetType = v.readUInt16LE(0);
        break;
      case 0x0900:
        if (len >= 2) cmd.status = v.readUInt16LE(0);
        break;
      case 0x1000:
        cmd.affectedSopInstanceUid = text(v);
        break;
      case 0x1001:
        cmd.requestedSopInstanceUid = text(v);
        break;
      case 0x1002:
        if (len >= 2) cmd.eventTypeId = v.readUInt16LE(0);
        break;
      case 0x1008:
        if (len >= 2) cmd.actionTypeId = v.readUInt16LE(0);
        break;
      case 0x1030:
        cmd.moveOriginatorAeTitle = text(v).trim();
        break;
    }
    off = start + len;
  }
  // C-CANCEL-RQ and responses carry Message ID Being Responded To (0000,0120) instead.
  const needsMessageId =
    cmd.commandField !== CommandField.CCancelRq && (cmd.commandField & RESPONSE_BIT) === 0;
  if (cmd.commandField < 0 || (needsMessageId && cmd.messageId < 0)) {
    throw new FerryError('dicom.pdu_malformed', 'command set lacks Command Field or Message ID');
  }
  return cmd;
}

/** Error Comment (0000,0902) is LO: at most 64 characters. */
export const ERROR_COMMENT_MAX = 64;

/**
 * An error comment cut to fit LO: at the last space at or before 64 characters, so no word is cut in
 * half, or a hard cut when the first 64 characters hold no space.
 */
export function fitErrorComment(comment: string): string {
  if (comment.length <= ERROR_COMMENT_MAX) return comment;
  // A space right after the 64th character means the first 64 end on a whole word.
  const space = comment.lastIndexOf(' ', ERROR_COMMENT_MAX);
  if (space <= 0) return comment.slice(0, ERROR_COMMENT_MAX);
  return comment.slice(0, space).trimEnd();
}

/** Appends one implicit-VR-LE element, padding to even length as the VR requires. */
export function element(parts: Buffer[], tag: number, value: Buffer | number, pad = 0): void {
  const v = typeof value === 'number' ? Buffer.from([value & 0xff, value >> 8]) : value;
  const padded = v.length % 2 === 1 ? Buffer.concat([v, Buffer.from([pad])]) : v;
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(tag, 2);
  head.writeUInt32LE(padded.length, 4);
  parts.push(head, padded);
}

/**
 * Encodes a response command as a complete P-DATA-TF PDU. A handful of fixed-layout elements: this
 * costs microseconds, where a general dataset writer costs hundreds (see ARCHITECTURE.md).
 */
export function encodeResponsePdu(
  contextId: number,
  rsp: {
    commandField: number;
    messageId: number;
    sopClassUid: string;
    sopInstanceUid?: string;
    status: number;
    errorComment?: string;
  },
): Buffer {
  const body: Buffer[] = [];
  if (rsp.sopClassUid) element(body, 0x0002, Buffer.from(rsp.sopClassUid, 'latin1'));
  element(body, 0x0100, rsp.commandField);
  element(body, 0x0120, rsp.messageId);
  element(body, 0x0800, NO_DATASET);
  element(body, 0x0900, rsp.status);
  if (rsp.errorComment) element(body, 0x0902, Buffer.from(fitErrorComment(rsp.errorComment), 'latin1'), 0x20);
  if (rsp.sopInstanceUid) element(body, 0x1000, Buffer.from(rsp.sopInstanceUid, 'latin1'));
  const bodyLength = body.reduce((n, b) => n + b.length, 0);
  const out = Buffer.alloc(6 + 6 + 12 + bodyLength);
  out[0] = PduType.PData;
  out.writeUInt32BE(out.length - 6, 2);
  out.writeUInt32BE(out.length - 10, 6);
  out[10] = contextId;
  out[11] = 0x03;
  // (0000,0000) Command Group Length, UL
  out.writeUInt32LE(0x00000000, 12);
  out.writeUInt32LE(4, 16);
  out.writeUInt32LE(bodyLength, 20);
  let off = 24;
  for (const b of body) off += b.copy(out, off);
  return out;
}
