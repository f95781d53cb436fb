/**
 * Media types of pixel data for WADO-RS frames and bulk data (PS3.18 8.7.3). Frames are answered as
 * stored, never transcoded: native pixels as application/octet-stream (little endian, so Explicit VR
 * Little Endian whatever the stored byte order), an encapsulated frame as its own bitstream, typed as
 * the client asked (its syntax's image type, or application/octet-stream with the syntax named).
 */
import { FerryError, isEncapsulated } from '@ferry/shared';
import { parseAccept } from './accept.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const OCTET_STREAM = 'application/octet-stream';

/** Each encapsulated syntax's image media types; the first is the one answered for a wildcard. */
const IMAGE_TYPES: Record<string, readonly string[]> = {
  '1.2.840.10008.1.2.4.50': ['image/jpeg'],
  '1.2.840.10008.1.2.4.51': ['image/jpeg'],
  '1.2.840.10008.1.2.4.57': ['image/jpeg'],
  '1.2.840.10008.1.2.4.70': ['image/jpeg', 'image/jll'],
  '1.2.840.10008.1.2.4.80': ['image/jls', 'image/x-jls'],
  '1.2.840.10008.1.2.4.81': ['image/jls', 'image/x-jls'],
  '1.2.840.10008.1.2.4.90': ['image/jp2'],
  '1.2.840.10008.1.2.4.91': ['image/jp2'],
  '1.2.840.10008.1.2.4.92': ['image/jpx'],
  '1.2.840.10008.1.2.4.93': ['image/jpx'],
  '1.2.840.10008.1.2.4.201': ['image/jphc', 'image/jhc'],
  '1.2.840.10008.1.2.4.202': ['image/jphc', 'image/jhc'],
  '1.2.840.10008.1.2.4.203': ['image/jphc', 'image/jhc'],
  '1.2.840.10008.1.2.5': ['image/dicom-rle', 'image/x-dicom-rle'],
};

/** How frames go out: the part media type and the syntax it carries. */
export interface FrameMedia {
  type: string;
  transferSyntaxUid: string;
  /** The parts' Content-Type. */
  contentType: string;
}

function media(type: string, transferSyntaxUid: string): FrameMedia {
  return { type, transferSyntaxUid, contentType: `${type}; transfer-syntax=${transferSyntaxUid}` };
}

/** What frames of `stored` can be answered as, for the 406 message. */
function available(stored: string): string {
  if (!isEncapsulated(stored)) {
    return `multipart/related; type="${OCTET_STREAM}" (transfer-syntax ${EXPLICIT_LE} or *)`;
  }
  const own = IMAGE_TYPES[stored]?.[0];
  return (
    `multipart/related; type="${OCTET_STREAM}"; transfer-syntax=* (or =${stored})` +
    (own ? ` or multipart/related; type="${own}"` : '') +
    ' (frames are not transcoded)'
  );
}

/**
 * The media type to answer frames of an instance stored as `stored` with, from the Accept header
 * (highest q first, then order). 406 request.not_acceptable naming what is available otherwise.
 */
export function negotiateFrameMedia(header: string | undefined, stored: string): FrameMedia {
  const encapsulated = isEncapsulated(stored);
  const own = IMAGE_TYPES[stored] ?? [];
  const asStored = encapsulated ? media(own[0] ?? OCTET_STREAM, stored) : media(OCTET_STREAM, EXPLICIT_LE);
  const ranges = parseAccept(header)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.q - a.r.q || a.i - b.i)
    .map(({ r }) => r);
  for (const r of ranges) {
    if (r.type === '*/*' || r.type === 'multipart/*') return asStored;
    if (r.type !== 'multipart/related') continue;
    const type = (r.params.get('type') ?? OCTET_STREAM).toLowerCase();
    const ts = r.params.get('transfer-syntax');
    if (type === OCTET_STREAM || type === 'application/*') {
      // Without a transfer syntax octet-stream means uncompressed Explicit VR Little Endian.
      if (
        !encapsulated &&
        (ts === undefined || ts === '*' || ts === EXPLICIT_LE || ts === '1.2.840.10008.1.2')
      )
        return media(OCTET_STREAM, EXPLICIT_LE);
      if (encapsulated && (ts === '*' || ts === stored)) return media(OCTET_STREAM, stored);
      continue;
    }
    if (type === '*/*' || type === 'image/*') {
      if (encapsulated && own[0] && (ts === undefined || ts === '*' || ts === stored)) return asStored;
      if (type === '*/*' && !encapsulated) return asStored;
      continue;
    }
    if (own.includes(type) && (ts === undefined || ts === '*' || ts === stored)) return media(type, stored);
  }
  throw new FerryError(
    'request.not_acceptable',
    `cannot answer Accept: ${(header ?? '').slice(0, 200)}; these frames are stored as ${stored} and ` +
      `are available as ${available(stored)}`,
  );
}
