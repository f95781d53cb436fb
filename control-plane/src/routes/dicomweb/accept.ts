/**
 * Accept header handling for DICOMweb, loosely: what the common clients (OHIF, dicomweb-client,
 * curl) send is understood, and anything this server cannot produce is refused with 406
 * `request.not_acceptable` and a message saying what it can produce.
 */
import { FerryError } from '@ferry/shared';

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

/** Which transfer syntaxes a WADO-RS retrieve may answer with: any as stored, or the listed ones. */
export interface AcceptedSyntaxes {
  asStored: boolean;
  syntaxes: Set<string>;
}

const DICOM_MULTIPART = 'multipart/related; type="application/dicom"';

/**
 * The transfer syntaxes the client takes DICOM instances in, from `multipart/related;
 * type="application/dicom"[; transfer-syntax=…]` or a wildcard. No transfer-syntax parameter, or `*`,
 * means as stored (this server does not transcode). Refuses (406) when no range asks for DICOM parts.
 */
export function acceptedDicomSyntaxes(header: string | undefined): AcceptedSyntaxes {
  const out: AcceptedSyntaxes = { asStored: false, syntaxes: new Set() };
  let any = false;
  for (const r of parseAccept(header)) {
    if (r.type === '*/*' || r.type === 'multipart/*') {
      out.asStored = true;
      any = true;
      continue;
    }
    if (r.type !== 'multipart/related') continue;
    const partType = (r.params.get('type') ?? 'application/dicom').toLowerCase();
    if (partType !== 'application/dicom' && partType !== 'application/*' && partType !== '*/*') continue;
    any = true;
    const ts = r.params.get('transfer-syntax');
    if (ts === undefined || ts === '*') out.asStored = true;
    else out.syntaxes.add(ts);
  }
  if (!any) throw notAcceptable(header, `${DICOM_MULTIPART} (transfer-syntax=* : as stored)`);
  return out;
}

/** Refuses (406) when an instance is stored in a syntax the client did not accept: no transcoding here. */
export function requireStoredSyntaxes(
  accepted: AcceptedSyntaxes,
  stored: Iterable<string>,
  header?: string,
): void {
  if (accepted.asStored) return;
  const missing = [...new Set(stored)].filter((ts) => !accepted.syntaxes.has(ts));
  if (missing.length > 0) {
    throw new FerryError(
      'request.not_acceptable',
      `the instances are stored as ${missing.join(', ')} and this server does not transcode; ` +
        `ask for ${DICOM_MULTIPART}; transfer-syntax=* (Accept was: ${(header ?? '').slice(0, 200)})`,
    );
  }
}
