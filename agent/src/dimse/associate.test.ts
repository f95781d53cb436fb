import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { encodeAssociateRq, parseAssociateAc } from '../../../test/harness/raw-scu.js';
import {
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeReleaseRp,
  parseAssociateRq,
} from './associate.js';
import {
  APPLICATION_CONTEXT,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION,
  PduType,
  PresentationResult,
} from './pdu-types.js';
import { decideContext } from './sop-classes.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const EXPLICIT = '1.2.840.10008.1.2.1';
const JPEG = '1.2.840.10008.1.2.4.50';

/** Like storescu: many contexts, odd and even UIDs, extra user-information sub-items. */
function storescuLikeRq(): Buffer {
  const rq = encodeAssociateRq({
    calledAe: 'GATEWAY',
    callingAe: 'MODALITY_01',
    maxPduLength: 116794,
    implementationClassUid: '1.2.276.0.7230010.3.0.3.6.7',
    implementationVersion: 'OFFIS_DCMTK_367',
    contexts: [
      { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [IMPLICIT] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT, '1.2.840.10008.1.2.2', IMPLICIT] },
      { id: 5, abstractSyntax: MR, transferSyntaxes: [JPEG] },
      { id: 7, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] },
      { id: 255, abstractSyntax: CT, transferSyntaxes: ['1.2.3.4'] },
    ],
  });
  // Append an SCP/SCU role selection sub-item (0x54) to user information, as some SCUs send.
  const body = rq.subarray(6);
  let userInfoAt = 68;
  while (body[userInfoAt] !== 0x50) userInfoAt += 4 + body.readUInt16BE(userInfoAt + 2);
  const roleHead = Buffer.alloc(6);
  roleHead[0] = 0x54;
  roleHead.writeUInt16BE(2 + CT.length + 2, 2);
  roleHead.writeUInt16BE(CT.length, 4);
  const role = Buffer.concat([roleHead, Buffer.from(CT, 'latin1'), Buffer.from([1, 0])]);
  const userInfo = Buffer.concat([body.subarray(userInfoAt), role]);
  userInfo.writeUInt16BE(userInfo.length - 4, 2);
  return Buffer.concat([body.subarray(0, userInfoAt), userInfo]);
}

describe('parseAssociateRq', () => {
  it('parses a realistic A-ASSOCIATE-RQ body', () => {
    const req = parseAssociateRq(storescuLikeRq());
    expect(req).toMatchObject({
      protocolVersion: 1,
      calledAeTitle: 'GATEWAY',
      callingAeTitle: 'MODALITY_01',
      applicationContext: APPLICATION_CONTEXT,
      maxPduLength: 116794,
      implementationClassUid: '1.2.276.0.7230010.3.0.3.6.7',
      implementationVersion: 'OFFIS_DCMTK_367',
    });
    expect(req.calledRaw.toString('latin1')).toBe('GATEWAY         ');
    expect(req.callingRaw.toString('latin1')).toBe('MODALITY_01     ');
    expect(req.contexts).toEqual([
      { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [IMPLICIT] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT, '1.2.840.10008.1.2.2', IMPLICIT] },
      { id: 5, abstractSyntax: MR, transferSyntaxes: [JPEG] },
      { id: 7, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] },
      { id: 255, abstractSyntax: CT, transferSyntaxes: ['1.2.3.4'] },
    ]);
  });

  it('treats leading and trailing spaces of AE titles as insignificant', () => {
    const req = parseAssociateRq(encodeAssociateRq({ calledAe: '  GATEWAY', callingAe: 'A' }).subarray(6));
    expect(req.calledAeTitle).toBe('GATEWAY');
    expect(req.callingAeTitle).toBe('A');
    expect(req.calledRaw.toString('latin1')).toBe('  GATEWAY       ');
  });

  it('keeps the raw AE fields as copies, not views of the socket buffer', () => {
    const body = Buffer.from(encodeAssociateRq().subarray(6));
    const req = parseAssociateRq(body);
    body.fill(0);
    expect(req.calledRaw.toString('latin1').trim()).toBe('GATEWAY');
  });

  it('rejects short bodies and items that run past their parent', () => {
    const body = storescuLikeRq();
    const firstItemLength = body.readUInt16BE(68 + 2);
    const cases: [string, Buffer][] = [
      ['short fixed part', body.subarray(0, 67)],
      ['item header cut', Buffer.concat([body.subarray(0, 68), Buffer.from([0x10, 0])])],
      ['item runs past the PDU', body.subarray(0, 68 + 4 + firstItemLength - 1)],
      [
        'presentation context too short',
        Buffer.concat([body.subarray(0, 68), Buffer.from([0x20, 0, 0, 2, 1, 0])]),
      ],
      [
        'context sub-item runs past its item',
        Buffer.concat([body.subarray(0, 68), Buffer.from([0x20, 0, 0, 8, 1, 0, 0, 0, 0x30, 0, 0, 9])]),
      ],
    ];
    for (const [name, bad] of cases) {
      let thrown: unknown;
      try {
        parseAssociateRq(bad);
      } catch (err) {
        thrown = err;
      }
      expect(isFerryError(thrown) && thrown.code, name).toBe('dicom.pdu_malformed');
    }
  });
});

describe('encodeAssociateAc', () => {
  it('answers each proposed context and echoes the AE fields', () => {
    const req = parseAssociateRq(storescuLikeRq());
    const decisions = req.contexts.map((c) => decideContext(c, {}));
    const pdu = encodeAssociateAc(req, decisions, 65536);
    expect(pdu[0]).toBe(PduType.AssociateAc);
    expect(pdu.readUInt32BE(2)).toBe(pdu.length - 6);
    const body = pdu.subarray(6);
    expect(body.readUInt16BE(0)).toBe(1);
    expect(body.subarray(4, 20).equals(req.calledRaw)).toBe(true);
    expect(body.subarray(20, 36).equals(req.callingRaw)).toBe(true);
    expect(body.subarray(36, 68).equals(Buffer.alloc(32))).toBe(true);
    const ac = parseAssociateAc(body);
    expect(ac).toMatchObject({
      applicationContext: APPLICATION_CONTEXT,
      maxPduLength: 65536,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersion: IMPLEMENTATION_VERSION,
    });
    expect(ac.contexts).toEqual([
      { id: 1, result: PresentationResult.Acceptance, transferSyntax: IMPLICIT },
      { id: 3, result: PresentationResult.Acceptance, transferSyntax: EXPLICIT },
      { id: 5, result: PresentationResult.Acceptance, transferSyntax: JPEG },
      // Rejected contexts still carry a transfer syntax sub-item (its value is not significant).
      { id: 7, result: PresentationResult.AbstractSyntaxNotSupported, transferSyntax: IMPLICIT },
      { id: 255, result: PresentationResult.TransferSyntaxesNotSupported, transferSyntax: '1.2.3.4' },
    ]);
  });

  it('writes item lengths that exactly fit their parents', () => {
    const req = parseAssociateRq(
      encodeAssociateRq({ contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }] }).subarray(
        6,
      ),
    );
    const body = encodeAssociateAc(
      req,
      req.contexts.map((c) => decideContext(c, {})),
      16384,
    ).subarray(6);
    // parseAssociateAc throws on stray bytes or items that overrun their parent.
    expect(parseAssociateAc(body).contexts).toEqual([{ id: 1, result: 0, transferSyntax: IMPLICIT }]);
  });
});

describe('fixed-layout PDUs', () => {
  it('encodes A-ASSOCIATE-RJ, A-ABORT and A-RELEASE-RP byte for byte', () => {
    expect([...encodeAssociateRj(1, 1, 7)]).toEqual([0x03, 0, 0, 0, 0, 4, 0, 1, 1, 7]);
    expect([...encodeAssociateRj(2, 3, 2)]).toEqual([0x03, 0, 0, 0, 0, 4, 0, 2, 3, 2]);
    expect([...encodeAbort(2, 6)]).toEqual([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6]);
    expect([...encodeReleaseRp()]).toEqual([0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  });
});
