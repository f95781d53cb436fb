import { describe, expect, it } from 'vitest';
import { PresentationResult } from './pdu-types.js';
import { decideContext, isStorageSopClass } from './sop-classes.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const IMPLICIT = '1.2.840.10008.1.2';
const EXPLICIT = '1.2.840.10008.1.2.1';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';

const ENCAPSULATED: Record<string, string> = {
  'JPEG baseline': '1.2.840.10008.1.2.4.50',
  'JPEG extended': '1.2.840.10008.1.2.4.51',
  'JPEG lossless SV1': '1.2.840.10008.1.2.4.70',
  'JPEG-LS lossless': '1.2.840.10008.1.2.4.80',
  'JPEG 2000 lossless': '1.2.840.10008.1.2.4.90',
  'JPEG 2000': '1.2.840.10008.1.2.4.91',
  'HTJ2K lossless': '1.2.840.10008.1.2.4.201',
  'HTJ2K lossless RPCL': '1.2.840.10008.1.2.4.202',
  HTJ2K: '1.2.840.10008.1.2.4.203',
  'MPEG2 MP@ML': '1.2.840.10008.1.2.4.100',
  'MPEG-4 AVC/H.264': '1.2.840.10008.1.2.4.102',
  'HEVC/H.265': '1.2.840.10008.1.2.4.107',
  RLE: '1.2.840.10008.1.2.5',
  Deflated: '1.2.840.10008.1.2.1.99',
  'Explicit VR big endian': BIG_ENDIAN,
  'Implicit VR little endian': IMPLICIT,
};

const ctx = (abstractSyntax: string, transferSyntaxes: string[], id = 1) => ({
  id,
  abstractSyntax,
  transferSyntaxes,
});

describe('decideContext', () => {
  it('prefers explicit VR little endian whenever it is offered', () => {
    for (const order of [
      [IMPLICIT, EXPLICIT, BIG_ENDIAN],
      [BIG_ENDIAN, IMPLICIT, EXPLICIT],
      [ENCAPSULATED['JPEG baseline']!, EXPLICIT],
      [EXPLICIT, IMPLICIT],
    ]) {
      expect(decideContext(ctx(CT, order, 3)), order.join(',')).toEqual({
        id: 3,
        abstractSyntax: CT,
        result: PresentationResult.Acceptance,
        transferSyntax: EXPLICIT,
      });
    }
  });

  for (const [name, ts] of Object.entries(ENCAPSULATED)) {
    it(`accepts ${name} offered alone`, () => {
      expect(decideContext(ctx(CT, [ts]))).toMatchObject({
        result: PresentationResult.Acceptance,
        transferSyntax: ts,
      });
    });
  }

  it('takes the first standard syntax when explicit VR LE is not offered, skipping private ones', () => {
    expect(decideContext(ctx(CT, ['1.2.3.4.5', ENCAPSULATED.RLE!, IMPLICIT]))).toMatchObject({
      result: PresentationResult.Acceptance,
      transferSyntax: ENCAPSULATED.RLE,
    });
  });

  it('refuses a context whose transfer syntaxes are all non-standard', () => {
    expect(decideContext(ctx(CT, ['1.2.3.4.5', '1.2.840.10008.1.20']))).toMatchObject({
      result: PresentationResult.TransferSyntaxesNotSupported,
      transferSyntax: '',
    });
    expect(decideContext(ctx(CT, []))).toMatchObject({
      result: PresentationResult.TransferSyntaxesNotSupported,
    });
  });

  it('accepts Verification', () => {
    expect(decideContext(ctx('1.2.840.10008.1.1', [IMPLICIT]))).toMatchObject({
      result: PresentationResult.Acceptance,
      transferSyntax: IMPLICIT,
    });
  });

  it('rejects query/retrieve, worklist and other non-storage classes', () => {
    for (const uid of [
      '1.2.840.10008.5.1.4.1.2.2.1', // Study Root Q/R C-FIND
      '1.2.840.10008.5.1.4.1.2.2.2', // Study Root Q/R C-MOVE
      '1.2.840.10008.5.1.4.1.2.1.1', // Patient Root Q/R C-FIND
      '1.2.840.10008.5.1.4.31', // Modality Worklist C-FIND
      '1.2.840.10008.1.20.1', // Storage Commitment Push
      '1.2.840.10008.3.1.2.3.3', // MPPS
      'not-a-uid',
      '',
    ]) {
      expect(decideContext(ctx(uid, [EXPLICIT])), uid).toMatchObject({
        result: PresentationResult.AbstractSyntaxNotSupported,
        transferSyntax: '',
      });
    }
  });

  it('accepts standard storage classes across the families, and private ones', () => {
    for (const uid of [
      CT,
      '1.2.840.10008.5.1.4.1.1.7', // Secondary Capture
      '1.2.840.10008.5.1.4.1.1.88.33', // Comprehensive SR
      '1.2.840.10008.5.1.4.1.1.481.2', // RT Dose
      '1.2.840.10008.5.1.4.1.1.9.1.1', // 12-lead ECG
      '1.2.840.10008.5.1.4.34.7', // RT Beams Delivery Instruction
      '1.2.840.10008.5.1.4.43.1', // Generic Implant Template
      '1.3.12.2.1107.5.9.1', // Siemens CSA non-image (private)
    ]) {
      expect(isStorageSopClass(uid), uid).toBe(true);
      expect(decideContext(ctx(uid, [EXPLICIT])).result, uid).toBe(PresentationResult.Acceptance);
    }
  });
});
