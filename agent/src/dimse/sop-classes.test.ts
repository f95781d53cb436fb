import { DEFAULT_PRIVATE_SOP_CLASSES, isValidUid } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { PresentationResult } from './pdu-types.js';
import { type ContextRules, chooseTransferSyntax, decideContext, isStorageSopClass } from './sop-classes.js';
import { STANDARD_STORAGE_SOP_CLASSES } from './standard-storage-sop-classes.js';
import { STANDARD_TRANSFER_SYNTAXES } from './standard-transfer-syntaxes.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const IMPLICIT = '1.2.840.10008.1.2';
const EXPLICIT = '1.2.840.10008.1.2.1';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const RLE = '1.2.840.10008.1.2.5';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_LS = '1.2.840.10008.1.2.4.80';
const J2K = '1.2.840.10008.1.2.4.91';
const NONEXISTENT_TS = '1.2.840.10008.1.2.9.9';
const SIEMENS_CSA = '1.3.12.2.1107.5.9.1';

const ENCAPSULATED: Record<string, string> = {
  'JPEG baseline': JPEG_BASELINE,
  'JPEG extended': '1.2.840.10008.1.2.4.51',
  'JPEG extended hierarchical (retired)': '1.2.840.10008.1.2.4.59',
  'JPEG lossless SV1': '1.2.840.10008.1.2.4.70',
  'JPEG-LS lossless': JPEG_LS,
  'JPEG 2000 lossless': '1.2.840.10008.1.2.4.90',
  'JPEG 2000': J2K,
  JPIP: '1.2.840.10008.1.2.4.94',
  'HTJ2K lossless': '1.2.840.10008.1.2.4.201',
  'HTJ2K lossless RPCL': '1.2.840.10008.1.2.4.202',
  HTJ2K: '1.2.840.10008.1.2.4.203',
  'MPEG2 MP@ML': '1.2.840.10008.1.2.4.100',
  'MPEG-4 AVC/H.264': '1.2.840.10008.1.2.4.102',
  'HEVC/H.265': '1.2.840.10008.1.2.4.107',
  'JPEG XL': '1.2.840.10008.1.2.4.112',
  RLE,
  Deflated: DEFLATED,
  'Deflated image frame': '1.2.840.10008.1.2.8.1',
  'Explicit VR big endian (retired)': BIG_ENDIAN,
  'Papyrus 3 implicit VR little endian (retired)': '1.2.840.10008.1.20',
  'Implicit VR little endian': IMPLICIT,
};

const ctx = (abstractSyntax: string, transferSyntaxes: string[], id = 1) => ({
  id,
  abstractSyntax,
  transferSyntaxes,
});
const chosen = (proposed: string[], rules: ContextRules = {}) => chooseTransferSyntax(proposed, rules);

describe('transfer syntax choice', () => {
  it('as-proposed (the default) takes the first acceptable one in the proposer order', () => {
    expect(chosen([RLE, EXPLICIT, BIG_ENDIAN, IMPLICIT])).toBe(RLE); // dcmsend's default context
    expect(chosen([JPEG_BASELINE, EXPLICIT, BIG_ENDIAN, IMPLICIT])).toBe(JPEG_BASELINE); // storescu +C
    expect(chosen([IMPLICIT, EXPLICIT])).toBe(IMPLICIT);
    expect(chosen([NONEXISTENT_TS, '1.2.3.4.5', J2K, EXPLICIT])).toBe(J2K);
    expect(chosen([RLE, EXPLICIT], { transferSyntaxPolicy: 'as-proposed' })).toBe(RLE);
  });

  it('prefer-uncompressed takes explicit VR LE, then implicit VR LE, then other uncompressed, else as proposed', () => {
    const rules: ContextRules = { transferSyntaxPolicy: 'prefer-uncompressed' };
    expect(chosen([RLE, BIG_ENDIAN, IMPLICIT, EXPLICIT], rules)).toBe(EXPLICIT);
    expect(chosen([RLE, BIG_ENDIAN, IMPLICIT], rules)).toBe(IMPLICIT);
    expect(chosen([JPEG_BASELINE, BIG_ENDIAN], rules)).toBe(BIG_ENDIAN);
    expect(chosen([DEFLATED, JPEG_LS], rules)).toBe(DEFLATED);
    expect(chosen([NONEXISTENT_TS, J2K], rules)).toBe(J2K);
  });

  it('prefer-compressed takes the first compressed one proposed, else as proposed', () => {
    const rules: ContextRules = { transferSyntaxPolicy: 'prefer-compressed' };
    expect(chosen([EXPLICIT, IMPLICIT, JPEG_LS, RLE], rules)).toBe(JPEG_LS);
    expect(chosen([IMPLICIT, DEFLATED], rules)).toBe(DEFLATED);
    expect(chosen([IMPLICIT, EXPLICIT], rules)).toBe(IMPLICIT);
    expect(chosen([EXPLICIT, NONEXISTENT_TS], rules)).toBe(EXPLICIT);
  });

  it('accepts a private transfer syntax only when listed, and ranks it as neither kind', () => {
    expect(chosen(['1.2.3.4.5'])).toBeUndefined();
    const rules: ContextRules = { privateTransferSyntaxes: ['1.2.3.4.5'] };
    expect(chosen(['1.2.3.4.5', EXPLICIT], rules)).toBe('1.2.3.4.5');
    expect(chosen(['1.2.3.4.5', RLE], { ...rules, transferSyntaxPolicy: 'prefer-compressed' })).toBe(RLE);
    expect(chosen(['1.2.3.4.5', IMPLICIT], { ...rules, transferSyntaxPolicy: 'prefer-uncompressed' })).toBe(
      IMPLICIT,
    );
  });
});

describe('decideContext', () => {
  for (const [name, ts] of Object.entries(ENCAPSULATED)) {
    it(`accepts ${name} offered alone`, () => {
      expect(decideContext(ctx(CT, [ts]), {})).toMatchObject({
        result: PresentationResult.Acceptance,
        transferSyntax: ts,
      });
    });
  }

  it('answers result 4 for a context with no real transfer syntax: nonexistent, unlisted private or none', () => {
    for (const proposed of [[NONEXISTENT_TS], ['1.2.3.4.5', '1.2.840.10008.1.2.4'], []]) {
      expect(decideContext(ctx(CT, proposed, 5), {}), proposed.join(',')).toEqual({
        id: 5,
        abstractSyntax: CT,
        result: PresentationResult.TransferSyntaxesNotSupported,
        transferSyntax: '',
      });
    }
  });

  it('accepts Verification', () => {
    expect(decideContext(ctx('1.2.840.10008.1.1', [IMPLICIT]), {})).toMatchObject({
      result: PresentationResult.Acceptance,
      transferSyntax: IMPLICIT,
    });
  });

  it('answers result 3 for query/retrieve, worklist, media, MPPS and arbitrary UIDs', () => {
    for (const uid of [
      '1.2.840.10008.5.1.4.1.2.2.1', // Study Root Q/R C-FIND
      '1.2.840.10008.5.1.4.1.2.2.2', // Study Root Q/R C-MOVE
      '1.2.840.10008.5.1.4.31', // Modality Worklist C-FIND
      '1.2.840.10008.5.1.4.38.2', // Hanging Protocol C-FIND
      '1.2.840.10008.5.1.4.1.1.201.2', // Inventory C-FIND
      '1.2.840.10008.1.3.10', // Media Storage Directory (a file, not a network class)
      '1.2.840.10008.3.1.2.3.3', // MPPS
      '1.2.840.10008.5.1.4.1.1.99', // not a class at all
      '1.2.3',
      'not-a-uid',
      '',
    ]) {
      expect(decideContext(ctx(uid, [EXPLICIT]), {}), uid).toMatchObject({
        result: PresentationResult.AbstractSyntaxNotSupported,
        transferSyntax: '',
      });
    }
  });

  it('accepts standard storage classes, the non-patient ones and retired ones included', () => {
    for (const uid of [
      CT,
      '1.2.840.10008.5.1.4.1.1.2.3', // CT Image Storage - For Processing (2025)
      '1.2.840.10008.5.1.4.1.1.88.33', // Comprehensive SR
      '1.2.840.10008.5.1.4.1.1.481.2', // RT Dose
      '1.2.840.10008.5.1.4.1.1.9.1.1', // 12-lead ECG
      '1.2.840.10008.5.1.4.34.7', // RT Beams Delivery Instruction
      '1.2.840.10008.5.1.4.38.1', // Hanging Protocol
      '1.2.840.10008.5.1.4.39.1', // Color Palette
      '1.2.840.10008.5.1.4.43.1', // Generic Implant Template
      '1.2.840.10008.5.1.4.44.1', // Implant Assembly Template
      '1.2.840.10008.5.1.4.45.1', // Implant Template Group
      '1.2.840.10008.5.1.4.1.1.200.1', // CT Defined Procedure Protocol
      '1.2.840.10008.5.1.4.1.1.200.3', // Protocol Approval
      '1.2.840.10008.5.1.4.1.1.201.1', // Inventory
      '1.2.840.10008.5.1.4.1.1.501.1', // DICOS CT
      '1.2.840.10008.5.1.1.27', // Stored Print (retired)
    ]) {
      expect(isStorageSopClass(uid, {}), uid).toBe(true);
      expect(decideContext(ctx(uid, [EXPLICIT]), {}).result, uid).toBe(PresentationResult.Acceptance);
    }
  });

  it('accepts the default vendor-private storage classes, and exactly the listed ones once an admin sets a list', () => {
    expect(decideContext(ctx(SIEMENS_CSA, [EXPLICIT]), {}).result).toBe(PresentationResult.Acceptance);
    const mine: ContextRules = { privateSopClasses: ['1.2.3'] };
    expect(decideContext(ctx('1.2.3', [EXPLICIT]), mine).result).toBe(PresentationResult.Acceptance);
    expect(decideContext(ctx(SIEMENS_CSA, [EXPLICIT]), mine).result).toBe(
      PresentationResult.AbstractSyntaxNotSupported,
    );
    expect(decideContext(ctx(SIEMENS_CSA, [EXPLICIT]), { privateSopClasses: [] }).result).toBe(
      PresentationResult.AbstractSyntaxNotSupported,
    );
  });
});

describe('the UID tables', () => {
  it('transfer syntaxes: the 63 of PS3.6, retired ones included, each a UID under the DICOM root', () => {
    expect(STANDARD_TRANSFER_SYNTAXES.size).toBe(63);
    for (const [uid, { name }] of STANDARD_TRANSFER_SYNTAXES) {
      expect(isValidUid(uid) && uid.startsWith('1.2.840.10008.1.'), uid).toBe(true);
      expect(name.length, uid).toBeGreaterThan(0);
    }
    expect(STANDARD_TRANSFER_SYNTAXES.has(NONEXISTENT_TS)).toBe(false);
    const kinds = (k: string) =>
      [...STANDARD_TRANSFER_SYNTAXES].filter(([, v]) => v.kind === k).map(([u]) => u);
    expect(kinds('uncompressed')).toEqual(
      expect.arrayContaining([IMPLICIT, EXPLICIT, BIG_ENDIAN, '1.2.840.10008.1.2.1.98']),
    );
    expect(kinds('compressed')).toEqual(expect.arrayContaining([DEFLATED, RLE, JPEG_BASELINE, J2K]));
    expect(kinds('other').sort()).toEqual([
      '1.2.840.10008.1.2.4.204',
      '1.2.840.10008.1.2.4.94',
      '1.2.840.10008.1.2.6.1',
      '1.2.840.10008.1.2.6.2',
    ]);
  });

  it('storage SOP classes: 214 of PS3.6, all storage, none a query, commitment or media class', () => {
    expect(STANDARD_STORAGE_SOP_CLASSES.size).toBe(214);
    for (const [uid, name] of STANDARD_STORAGE_SOP_CLASSES) {
      expect(isValidUid(uid) && uid.startsWith('1.2.840.10008.5.1.'), uid).toBe(true);
      expect(name, uid).toMatch(/Storage/);
      expect(name, uid).not.toMatch(/FIND|MOVE|GET|Commitment|Directory/);
    }
  });

  it('the default private storage classes are private UIDs, none standard', () => {
    expect(DEFAULT_PRIVATE_SOP_CLASSES.length).toBeGreaterThan(50);
    for (const uid of DEFAULT_PRIVATE_SOP_CLASSES) {
      expect(isValidUid(uid) && !uid.startsWith('1.2.840.10008.'), uid).toBe(true);
    }
    expect(new Set(DEFAULT_PRIVATE_SOP_CLASSES).size).toBe(DEFAULT_PRIVATE_SOP_CLASSES.length);
  });
});
