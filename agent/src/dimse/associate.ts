import { FerryError } from '@ferry/shared';
import {
  APPLICATION_CONTEXT,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION,
  PduType,
  PresentationResult,
} from './pdu-types.js';
import { encodeUserIdentityResponse, parseUserIdentity, type UserIdentity } from './user-identity.js';

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateRequest {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  /** Raw 16-byte fields, echoed back verbatim in the A-ASSOCIATE-AC as PS3.8 asks. */
  calledRaw: Buffer;
  callingRaw: Buffer;
  applicationContext: string;
  contexts: ProposedContext[];
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersion: string;
  /** The User Identity Negotiation sub-item, when the requester sent one. */
  userIdentity?: UserIdentity;
}

export interface ContextDecision {
  id: number;
  result: number;
  transferSyntax: string;
  abstractSyntax: string;
}

function ascii(buf: Buffer): string {
  return buf
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
}

function malformed(message: string): FerryError {
  return new FerryError('dicom.pdu_malformed', `A-ASSOCIATE-RQ: ${message}`);
}

/** Parses the body of an A-ASSOCIATE-RQ PDU (the bytes after its 6-byte header). */
export function parseAssociateRq(body: Buffer): AssociateRequest {
  if (body.length < 68) throw malformed(`body of ${body.length} bytes is shorter than the fixed 68`);
  const req: AssociateRequest = {
    protocolVersion: body.readUInt16BE(0),
    calledRaw: Buffer.from(body.subarray(4, 20)),
    callingRaw: Buffer.from(body.subarray(20, 36)),
    calledAeTitle: ascii(body.subarray(4, 20)),
    callingAeTitle: ascii(body.subarray(20, 36)),
    applicationContext: '',
    contexts: [],
    maxPduLength: 0,
    implementationClassUid: '',
    implementationVersion: '',
  };
  let off = 68;
  while (off < body.length) {
    if (off + 4 > body.length) throw malformed('item header runs past the PDU');
    const type = body[off]!;
    const len = body.readUInt16BE(off + 2);
    const start = off + 4;
    const end = start + len;
    if (end > body.length) throw malformed(`item 0x${type.toString(16)} runs past the PDU`);
    const item = body.subarray(start, end);
    if (type === 0x10) req.applicationContext = ascii(item);
    else if (type === 0x20) req.contexts.push(parseContext(item));
    else if (type === 0x50) parseUserInfo(item, req);
    off = end;
  }
  return req;
}

function parseContext(item: Buffer): ProposedContext {
  if (item.length < 4) throw malformed('presentation context item too short');
  const ctx: ProposedContext = { id: item[0]!, abstractSyntax: '', transferSyntaxes: [] };
  let off = 4;
  while (off + 4 <= item.length) {
    const type = item[off]!;
    const len = item.readUInt16BE(off + 2);
    if (off + 4 + len > item.length)
      throw malformed(`presentation context ${ctx.id} sub-item runs past its item`);
    const value = ascii(item.subarray(off + 4, off + 4 + len));
    if (type === 0x30) ctx.abstractSyntax = value;
    else if (type === 0x40) ctx.transferSyntaxes.push(value);
    off += 4 + len;
  }
  return ctx;
}

function parseUserInfo(item: Buffer, req: AssociateRequest): void {
  let off = 0;
  while (off + 4 <= item.length) {
    const type = item[off]!;
    const len = item.readUInt16BE(off + 2);
    if (off + 4 + len > item.length)
      throw malformed(`user information sub-item 0x${type.toString(16)} runs past its item`);
    const value = item.subarray(off + 4, off + 4 + len);
    if (type === 0x51 && len === 4) req.maxPduLength = value.readUInt32BE(0);
    else if (type === 0x52) req.implementationClassUid = ascii(value);
    else if (type === 0x55) req.implementationVersion = ascii(value);
    else if (type === 0x58) {
      if (req.userIdentity) throw malformed('more than one user identity sub-item');
      req.userIdentity = parseUserIdentity(value);
    }
    off += 4 + len;
  }
}

/** A variable item (PS3.8 9.3.2): type, reserved byte, 16-bit length, value. */
export function item(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

/** A PDU: type, reserved byte, 32-bit length, body. */
export function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

export function encodeAssociateAc(
  req: AssociateRequest,
  decisions: ContextDecision[],
  maxPduLength: number,
  /** The server response of a 0x59 sub-item: present only when the requester's identity is answered. */
  identityResponse?: Buffer,
): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  req.calledRaw.copy(fixed, 4);
  req.callingRaw.copy(fixed, 20);
  const contexts = decisions.map((d) => {
    const head = Buffer.from([d.id, 0, d.result, 0]);
    const ts =
      d.result === PresentationResult.Acceptance
        ? d.transferSyntax
        : (req.contexts.find((c) => c.id === d.id)?.transferSyntaxes[0] ?? '');
    return item(0x21, Buffer.concat([head, item(0x40, Buffer.from(ts, 'latin1'))]));
  });
  const max = Buffer.alloc(4);
  max.writeUInt32BE(maxPduLength, 0);
  const userInfo = item(
    0x50,
    Buffer.concat([
      item(0x51, max),
      item(0x52, Buffer.from(IMPLEMENTATION_CLASS_UID, 'latin1')),
      item(0x55, Buffer.from(IMPLEMENTATION_VERSION, 'latin1')),
      ...(identityResponse ? [item(0x59, encodeUserIdentityResponse(identityResponse))] : []),
    ]),
  );
  return pdu(
    PduType.AssociateAc,
    Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1')), ...contexts, userInfo]),
  );
}

export function encodeAssociateRj(result: number, source: number, reason: number): Buffer {
  return pdu(PduType.AssociateRj, Buffer.from([0, result, source, reason]));
}

export function encodeAbort(source: number, reason: number): Buffer {
  return pdu(PduType.Abort, Buffer.from([0, 0, source, reason]));
}

export function encodeReleaseRq(): Buffer {
  return pdu(PduType.ReleaseRq, Buffer.alloc(4));
}

export function encodeReleaseRp(): Buffer {
  return pdu(PduType.ReleaseRp, Buffer.alloc(4));
}
