import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { acceptedDicomSyntaxes, chooseDicomSyntax, parseAccept, requireDicomJson } from './accept.js';

const J2K = '1.2.840.10008.1.2.4.90';
const ELE = '1.2.840.10008.1.2.1';
const ILE = '1.2.840.10008.1.2';
const EBE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const RLE = '1.2.840.10008.1.2.5';
const JLS = '1.2.840.10008.1.2.4.80';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

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

  it('takes DICOM parts in the default syntax unless a transfer syntax is named, and as stored for *', () => {
    const M = 'multipart/related; type="application/dicom"';
    expect(acceptedDicomSyntaxes(M)).toEqual({ asStored: false, defaultSyntax: true, syntaxes: new Set() });
    expect(acceptedDicomSyntaxes(`${M}; transfer-syntax=*`).asStored).toBe(true);
    for (const wildcard of ['*/*', 'multipart/*', undefined])
      expect(acceptedDicomSyntaxes(wildcard).defaultSyntax, String(wildcard)).toBe(true);
    const named = acceptedDicomSyntaxes(
      `${M}; transfer-syntax=${J2K}, multipart/related; type=application/dicom; transfer-syntax=${ELE}`,
    );
    expect(named).toEqual({ asStored: false, defaultSyntax: false, syntaxes: new Set([J2K, ELE]) });
    for (const bad of ['application/dicom', 'application/json', 'multipart/related; type="image/jpeg"'])
      expect(
        refused(() => acceptedDicomSyntaxes(bad)),
        bad,
      ).toBe(true);
  });

  it('chooses the stored syntax when accepted, else a lossless transcode, else refuses with the reason', () => {
    const M = 'multipart/related; type="application/dicom"';
    const choose = (accept: string, stored: string) => {
      try {
        return chooseDicomSyntax(acceptedDicomSyntaxes(accept), stored, accept);
      } catch (err) {
        return isFerryError(err) ? err.code : String(err);
      }
    };
    // No transfer syntax: ELE, transcoded from any lossless syntax; lossy as stored (PS3.18 8.7.3.4).
    expect(choose(M, ELE)).toBe(ELE);
    for (const lossless of [
      ILE,
      EBE,
      DEFLATED,
      RLE,
      JLS,
      J2K,
      '1.2.840.10008.1.2.4.57',
      '1.2.840.10008.1.2.4.70',
      '1.2.840.10008.1.2.4.201',
      '1.2.840.10008.1.2.4.202',
    ])
      expect(choose(M, lossless), lossless).toBe(ELE);
    for (const lossy of [
      JPEG_BASELINE,
      '1.2.840.10008.1.2.4.51',
      '1.2.840.10008.1.2.4.81',
      '1.2.840.10008.1.2.4.91',
      '1.2.840.10008.1.2.4.203',
    ])
      expect(choose(M, lossy), lossy).toBe(lossy);
    expect(choose('*/*', J2K)).toBe(ELE);
    expect(choose(M, '1.2.3.4.5.6')).toBe('dicomweb.cannot_decode');
    // transfer-syntax=*: as stored, always.
    for (const ts of [ELE, J2K, JPEG_BASELINE, '1.2.3.4.5.6'])
      expect(choose(`${M}; transfer-syntax=*`, ts)).toBe(ts);
    // Named: the stored one if listed, else ELE or deflated ELE made losslessly; lossy is not decompressed.
    expect(choose(`${M}; transfer-syntax=${J2K}`, J2K)).toBe(J2K);
    expect(choose(`${M}; transfer-syntax=${ELE}`, J2K)).toBe(ELE);
    expect(choose(`${M}; transfer-syntax=${DEFLATED}`, JLS)).toBe(DEFLATED);
    expect(choose(`${M}; transfer-syntax=${ELE}`, JPEG_BASELINE)).toBe('dicomweb.cannot_transcode');
    expect(choose(`${M}; transfer-syntax=${JLS}`, J2K)).toBe('request.not_acceptable');
    expect(choose(`${M}; transfer-syntax=${ILE}`, ELE)).toBe('request.not_acceptable');
  });
});
