import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { acceptedDicomSyntaxes, parseAccept, requireDicomJson, requireStoredSyntaxes } from './accept.js';

const J2K = '1.2.840.10008.1.2.4.90';
const ELE = '1.2.840.10008.1.2.1';

function refused(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isFerryError(err, 'request.not_acceptable');
  }
}

describe('Accept handling', () => {
  it('parses media ranges with quoted parameters and q values', () => {
    const ranges = parseAccept(
      `multipart/related; type="application/dicom"; transfer-syntax=${ELE}, */*;q=0`,
    );
    expect(ranges).toHaveLength(1);
    expect(ranges[0]!.type).toBe('multipart/related');
    expect(Object.fromEntries(ranges[0]!.params)).toEqual({
      type: 'application/dicom',
      'transfer-syntax': ELE,
    });
    expect(parseAccept(undefined)[0]!.type).toBe('*/*');
  });

  it('answers JSON to JSON and wildcards only', () => {
    for (const ok of [
      undefined,
      '',
      '*/*',
      'application/json',
      'application/dicom+json; charset=utf-8',
      'text/html, */*;q=0.1',
    ])
      expect(
        refused(() => requireDicomJson(ok)),
        String(ok),
      ).toBe(false);
    for (const bad of ['application/dicom+xml', 'text/html', 'application/json;q=0'])
      expect(
        refused(() => requireDicomJson(bad)),
        bad,
      ).toBe(true);
  });

  it('takes DICOM parts as stored unless a transfer syntax is named', () => {
    expect(acceptedDicomSyntaxes('multipart/related; type="application/dicom"').asStored).toBe(true);
    expect(
      acceptedDicomSyntaxes('multipart/related; type="application/dicom"; transfer-syntax=*').asStored,
    ).toBe(true);
    expect(acceptedDicomSyntaxes('*/*').asStored).toBe(true);
    const named = acceptedDicomSyntaxes(
      `multipart/related; type="application/dicom"; transfer-syntax=${J2K}, multipart/related; type=application/dicom; transfer-syntax=${ELE}`,
    );
    expect(named).toEqual({ asStored: false, syntaxes: new Set([J2K, ELE]) });
    expect(refused(() => requireStoredSyntaxes(named, [ELE, J2K]))).toBe(false);
    expect(
      refused(() =>
        requireStoredSyntaxes(
          acceptedDicomSyntaxes(`multipart/related; type="application/dicom"; transfer-syntax=${ELE}`),
          [J2K],
        ),
      ),
    ).toBe(true);
    for (const bad of ['application/dicom', 'application/json', 'multipart/related; type="image/jpeg"'])
      expect(
        refused(() => acceptedDicomSyntaxes(bad)),
        bad,
      ).toBe(true);
  });
});
