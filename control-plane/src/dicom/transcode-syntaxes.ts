/**
 * Which transfer syntaxes transcoding writes, which stored syntaxes it can turn into those without
 * loss (and with which codec), and which hold lossy pixels that it refuses to pass off as lossless.
 */
import { TS } from '@ferry/shared';

export const ELE = TS.ExplicitVRLittleEndian;
export const DEFLATED = TS.DeflatedExplicitVRLittleEndian;
const ENCAPSULATED_UNCOMPRESSED = '1.2.840.10008.1.2.1.98';

/** What transcodeInstance writes. */
export const TRANSCODE_TARGETS: ReadonlySet<string> = new Set([ELE, DEFLATED]);

/** Lossless compressed syntaxes and the NativeCodecs method that decodes their frames. */
export const DECODERS: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.5': 'decodeRle',
  '1.2.840.10008.1.2.4.57': 'decodeJpeg',
  '1.2.840.10008.1.2.4.70': 'decodeJpeg',
  '1.2.840.10008.1.2.4.80': 'decodeJpegLs',
  '1.2.840.10008.1.2.4.90': 'decodeJpeg2000',
  '1.2.840.10008.1.2.4.110': 'decodeJpegXl',
  '1.2.840.10008.1.2.4.201': 'decodeHtJpeg2000',
  '1.2.840.10008.1.2.4.202': 'decodeHtJpeg2000',
};

/**
 * Syntaxes whose pixels are (or may be) lossy: JPEG baseline/extended, JPEG-LS near-lossless, JPEG
 * 2000 and HTJ2K (lossy allowed), JPEG XL (lossy, JPEG recompression) and the video syntaxes.
 */
const LOSSY = new Set([
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.93',
  '1.2.840.10008.1.2.4.111',
  '1.2.840.10008.1.2.4.112',
  '1.2.840.10008.1.2.4.203',
  ...Array.from({ length: 9 }, (_, i) => `1.2.840.10008.1.2.4.${100 + i}`),
]);

export function isLossySyntax(ts: string): boolean {
  return LOSSY.has(ts);
}

/** True when transcodeInstance can turn an instance stored as `ts` into ELE without loss. */
export function canTranscodeLosslessly(ts: string): boolean {
  return (
    ts === ELE ||
    ts === DEFLATED ||
    ts === TS.ImplicitVRLittleEndian ||
    ts === TS.ExplicitVRBigEndian ||
    ts === ENCAPSULATED_UNCOMPRESSED ||
    DECODERS[ts] !== undefined
  );
}
