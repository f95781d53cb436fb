import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { TS } from '@ferry/shared';
// @ts-expect-error dcmjs ships no type declarations; the test uses it as an independent encoder.
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import {
  encodeCommitmentResult,
  eventTypeOf,
  FailureReason,
  parseCommitmentRequest,
  parseCommitmentResult,
} from './commitment-dataset.js';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

const CT = '1.2.840.10008.5.1.4.1.1.2';
const TX = '2.25.1234567890123456789';
const refs = [
  { sopClassUid: CT, sopInstanceUid: '1.2.3.4.5.1' },
  { sopClassUid: CT, sopInstanceUid: '1.2.3.4.5.22' },
];

/** A dcmjs Part-10 file of a commitment dataset in `transferSyntax`, its dataset still empty. */
function metaOnly(transferSyntax: string) {
  const meta = {
    _vrMap: {},
    MediaStorageSOPClassUID: '1.2.840.10008.1.20.1',
    MediaStorageSOPInstanceUID: '1.2.840.10008.1.20.1.1',
    TransferSyntaxUID: transferSyntax,
    ImplementationClassUID: '1.2.3',
  };
  return new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
}

/** The dataset of a Part-10 file dcmjs writes (an encoder other than ours), without its meta. */
function dcmjsDataset(transferSyntax: string, natural: Record<string, unknown>): Buffer {
  const dict = metaOnly(transferSyntax);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(natural);
  const file = Buffer.from(dict.write());
  return file.subarray(144 + file.readUInt32LE(140));
}

/** Reads a dataset back through dcmjs, as a requester's toolkit would. */
function dcmjsRead(transferSyntax: string, dataset: Buffer): Record<string, unknown> {
  const dict = metaOnly(transferSyntax);
  dict.dict = {};
  const head = Buffer.from(dict.write());
  const file = Buffer.concat([head, dataset]);
  const read = DicomMessage.readFile(file.buffer.slice(file.byteOffset, file.byteOffset + file.length));
  return DicomMetaDictionary.naturalizeDataset(read.dict) as Record<string, unknown>;
}

const request = {
  TransactionUID: TX,
  ReferencedSOPSequence: refs.map((r) => ({
    ReferencedSOPClassUID: r.sopClassUid,
    ReferencedSOPInstanceUID: r.sopInstanceUid,
  })),
};

describe('N-ACTION-RQ dataset', () => {
  it.each([
    ['implicit VR LE', TS.ImplicitVRLittleEndian],
    ['explicit VR LE', TS.ExplicitVRLittleEndian],
    ['explicit VR BE', TS.ExplicitVRBigEndian],
  ])('reads Transaction UID and Referenced SOP Sequence written by dcmjs in %s', (_name, ts) => {
    expect(parseCommitmentRequest(dcmjsDataset(ts, request), ts)).toEqual({ transactionUid: TX, refs });
  });

  it('reads defined-length sequences in implicit VR, known by their tags', () => {
    const ts = TS.ImplicitVRLittleEndian;
    const bytes = encodeCommitmentResult({ transactionUid: TX, committed: refs, failed: [] }, ts);
    expect(parseCommitmentRequest(bytes, ts)).toEqual({ transactionUid: TX, refs });
  });

  it('reads a deflated dataset', () => {
    const plain = dcmjsDataset(TS.ExplicitVRLittleEndian, request);
    const parsed = parseCommitmentRequest(deflateRawSync(plain), TS.DeflatedExplicitVRLittleEndian);
    expect(parsed).toEqual({ transactionUid: TX, refs });
  });

  it('reads undefined-length sequences and items, and skips elements it does not need', () => {
    const el = (g: number, e: number, v: Buffer) => {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(e, 2);
      h.writeUInt32LE(v.length, 4);
      return Buffer.concat([h, v]);
    };
    const tag = (g: number, e: number, len: number) => {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(e, 2);
      h.writeUInt32LE(len, 4);
      return h;
    };
    const ui = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
    const U = 0xffffffff;
    const bytes = Buffer.concat([
      el(0x0008, 0x0054, Buffer.from('RETRIEVE', 'latin1')),
      el(0x0008, 0x1195, ui(TX)),
      tag(0x0008, 0x1199, U),
      ...refs.flatMap((r) => [
        tag(0xfffe, 0xe000, U),
        el(0x0008, 0x1150, ui(r.sopClassUid)),
        el(0x0008, 0x1155, ui(r.sopInstanceUid)),
        tag(0xfffe, 0xe00d, 0),
      ]),
      tag(0xfffe, 0xe0dd, 0),
      el(0x0009, 0x0010, Buffer.from('PRIVATE ', 'latin1')),
    ]);
    expect(parseCommitmentRequest(bytes, TS.ImplicitVRLittleEndian)).toEqual({ transactionUid: TX, refs });
  });

  it('refuses a request without Transaction UID, without instances, with bad UIDs or cut short', () => {
    const ts = TS.ExplicitVRLittleEndian;
    const noTx = dcmjsDataset(ts, { ReferencedSOPSequence: request.ReferencedSOPSequence });
    expect(() => parseCommitmentRequest(noTx, ts)).toThrow(/no Transaction UID/);
    const noRefs = dcmjsDataset(ts, { TransactionUID: TX });
    expect(() => parseCommitmentRequest(noRefs, ts)).toThrow(/no Referenced SOP Sequence/);
    const badUid = dcmjsDataset(ts, {
      TransactionUID: TX,
      ReferencedSOPSequence: [{ ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '1.2.x' }],
    });
    expect(() => parseCommitmentRequest(badUid, ts)).toThrow(/item 1 lacks a valid/);
    const whole = dcmjsDataset(ts, request);
    expect(() => parseCommitmentRequest(whole.subarray(0, whole.length - 7), ts)).toThrow(
      expect.objectContaining({ code: 'dicom.commitment_invalid' }),
    );
  });
});

describe('N-EVENT-REPORT-RQ dataset', () => {
  const result = {
    transactionUid: TX,
    committed: [refs[0]!],
    failed: [{ ...refs[1]!, reason: FailureReason.NoSuchObjectInstance }],
  };

  it.each([
    ['implicit VR LE', TS.ImplicitVRLittleEndian],
    ['explicit VR LE', TS.ExplicitVRLittleEndian],
    ['explicit VR BE', TS.ExplicitVRBigEndian],
  ])(
    'is what dcmjs reads in %s: Transaction UID, Failed SOP Sequence with reasons, Referenced SOP Sequence',
    (_n, ts) => {
      const bytes = encodeCommitmentResult(result, ts);
      const read = dcmjsRead(ts, bytes);
      checkRead(read);
      expect(parseCommitmentResult(bytes, ts)).toEqual(result);
    },
  );

  it('is one deflate stream in deflated explicit VR LE, which dcmjs reads inflated', () => {
    const bytes = encodeCommitmentResult(result, TS.DeflatedExplicitVRLittleEndian);
    checkRead(dcmjsRead(TS.ExplicitVRLittleEndian, inflateRawSync(bytes)));
    expect(parseCommitmentResult(bytes, TS.DeflatedExplicitVRLittleEndian)).toEqual(result);
  });

  function checkRead(read: Record<string, unknown>): void {
    expect(read.TransactionUID).toBe(TX);
    expect(read.ReferencedSOPSequence).toMatchObject([
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '1.2.3.4.5.1' },
    ]);
    expect(read.FailedSOPSequence).toMatchObject([
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '1.2.3.4.5.22', FailureReason: 0x0112 },
    ]);
  }

  it('event type 1 when all are committed (no Failed SOP Sequence), 2 when any failed', () => {
    const allGood = { transactionUid: TX, committed: refs, failed: [] };
    expect(eventTypeOf(allGood)).toBe(1);
    expect(eventTypeOf(result)).toBe(2);
    const read = dcmjsRead(
      TS.ExplicitVRLittleEndian,
      encodeCommitmentResult(allGood, TS.ExplicitVRLittleEndian),
    );
    expect(read.FailedSOPSequence).toBeUndefined();
    expect(read.ReferencedSOPSequence).toHaveLength(2);
    const allBad = { transactionUid: TX, committed: [], failed: [{ ...refs[0]!, reason: 0x0110 }] };
    const bad = dcmjsRead(
      TS.ExplicitVRLittleEndian,
      encodeCommitmentResult(allBad, TS.ExplicitVRLittleEndian),
    );
    expect(bad.ReferencedSOPSequence).toBeUndefined();
    expect(bad.FailedSOPSequence).toMatchObject([{ FailureReason: 0x0110 }]);
  });
});
