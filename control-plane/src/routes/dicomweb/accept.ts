/**
 * Accept header handling for DICOMweb, loosely: what the common clients (OHIF, dicomweb-client,
 * curl) send is understood, and anything this server cannot produce is refused with 406 and a
 * message saying what it can produce.
 */
import { FerryError, TS } from '@ferry/shared';
import { canTranscodeLosslessly, isLossySyntax, TRANSCODE_TARGETS } from '../../dicom/transcode-syntaxes.js';

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
}

/** Splits on `sep` outside double quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [{ type: '*/*', params: new Map(), q: 1 }];
  const ranges: MediaRange[] = [];
  for (const item of splitOutsideQuotes(header.slice(0, 4096), ',')) {
    const [type, ...rawParams] = splitOutsideQuotes(item, ';').map((p) => p.trim());
    if (!type) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of rawParams) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (name === 'q') q = Number.isFinite(Number(value)) ? Number(value) : 1;
      else params.set(name, value);
    }
    if (q > 0) ranges.push({ type: type.toLowerCase(), params, q });
  }
  return ranges;
}

function notAcceptable(header: string | undefined, canProduce: string): FerryError {
  return new FerryError(
    'request.not_acceptable',
    `cannot answer Accept: ${(header ?? '').slice(0, 200)}; this resource is available as ${canProduce}`,
  );
}

/** For QIDO-RS and /metadata: JSON only (application/dicom+json, application/json, or a wildcard). */
export function requireDicomJson(header: string | undefined): void {
  const ok = parseAccept(header).some((r) =>
    ['*/*', 'application/*', 'application/dicom+json', 'application/json'].includes(r.type),
  );
  if (!ok) throw notAcceptable(header, 'application/dicom+json');
}

/** Which transfer syntaxes a WADO-RS retrieve may answer with. */
export interface AcceptedSyntaxes {
  /** `transfer-syntax=*`: any, as stored. */
  asStored: boolean;
  /** DICOM asked for without a transfer syntax (or a wildcard): the default, Explicit VR Little Endian. */
  defaultSyntax: boolean;
  /** Transfer syntaxes named in the header. */
  syntaxes: Set<string>;
}

const DICOM_MULTIPART = 'multipart/related; type="application/dicom"';
const ELE = TS.ExplicitVRLittleEndian;

/**
 * The transfer syntaxes the client takes DICOM instances in, from `multipart/related;
 * type="application/dicom"[; transfer-syntax=…]` or a wildcard. `*` means as stored; no
 * transfer-syntax parameter means the default syntax (PS3.18 8.7.3.4 and 8.7.8.2). Refuses (406)
 * when no range asks for DICOM parts.
 */
export function acceptedDicomSyntaxes(header: string | undefined): AcceptedSyntaxes {
  const out: AcceptedSyntaxes = { asStored: false, defaultSyntax: false, syntaxes: new Set() };
  let any = false;
  for (const r of parseAccept(header)) {
    if (r.type === '*/*' || r.type === 'multipart/*') {
      out.defaultSyntax = true;
      any = true;
      continue;
    }
    if (r.type !== 'multipart/related') continue;
    const partType = (r.params.get('type') ?? 'application/dicom').toLowerCase();
    if (partType !== 'application/dicom' && partType !== 'application/*' && partType !== '*/*') continue;
    any = true;
    const ts = r.params.get('transfer-syntax');
    if (ts === '*') out.asStored = true;
    else if (ts === undefined) out.defaultSyntax = true;
    else out.syntaxes.add(ts);
  }
  if (!any) throw notAcceptable(header, `${DICOM_MULTIPART} (transfer-syntax=* : as stored)`);
  return out;
}

/**
 * The transfer syntax to send an instance stored as `stored` in: the stored one (its bytes as they
 * are) when accepted, else one this server transcodes into without loss. An instance stored
 * lossy-compressed goes out as stored when the client asked for the default syntax, as PS3.18
 * 8.7.3.4 allows (decompressing would only make lossy pixels bigger); when it named Explicit VR
 * Little Endian it is refused, so that nothing ever passes decompressed lossy pixels off as what was
 * asked for. Throws 406: request.not_acceptable (no syntax it accepts can be produced),
 * dicomweb.cannot_transcode (lossy), dicomweb.cannot_decode (a syntax this server cannot decode).
 */
export function chooseDicomSyntax(accepted: AcceptedSyntaxes, stored: string, header?: string): string {
  if (accepted.asStored || accepted.syntaxes.has(stored)) return stored;
  const ele = accepted.defaultSyntax || accepted.syntaxes.has(ELE);
  if (ele && stored === ELE) return stored;
  const target = ele ? ELE : [...TRANSCODE_TARGETS].find((ts) => accepted.syntaxes.has(ts));
  const asked = (header ?? '').slice(0, 200);
  if (target === undefined) {
    throw new FerryError(
      'request.not_acceptable',
      `an instance is stored as ${stored}, and this server transcodes only to ${[...TRANSCODE_TARGETS].join(' or ')}; ` +
        `ask for one of them, or for ${DICOM_MULTIPART}; transfer-syntax=* (Accept was: ${asked})`,
    );
  }
  if (isLossySyntax(stored)) {
    if (accepted.defaultSyntax) return stored;
    throw new FerryError(
      'dicomweb.cannot_transcode',
      `an instance is stored lossy-compressed as ${stored} and is not decompressed; ask for ` +
        `transfer-syntax=${stored} or transfer-syntax=* (Accept was: ${asked})`,
    );
  }
  if (!canTranscodeLosslessly(stored)) {
    throw new FerryError(
      'dicomweb.cannot_decode',
      `an instance is stored as ${stored}, which this server cannot decode; ask for transfer-syntax=* (Accept was: ${asked})`,
    );
  }
  return target;
}
