import { FerryError } from '../errors/index.js';

/**
 * DICOM PS3.5 AE title (VR AE): at most 16 characters of the default repertoire, no backslash and no
 * control characters; leading and trailing spaces are not significant, so an all-space title is empty.
 */
export function aeTitleProblem(raw: string): string | undefined {
  const title = raw.trim();
  if (title.length === 0) return 'must not be empty or all spaces';
  if (title.length > 16) return `must be at most 16 characters (got ${title.length})`;
  for (const ch of title) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x5c) return 'must not contain a backslash';
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
    if (c > 0x7e) return 'must use only the DICOM default character repertoire (printable ASCII)';
  }
  return undefined;
}

export function normalizeAeTitle(raw: string): string {
  const problem = aeTitleProblem(raw);
  if (problem) throw new FerryError('dicom.ae_title_invalid', `AE title "${raw}" ${problem}`);
  return raw.trim();
}
