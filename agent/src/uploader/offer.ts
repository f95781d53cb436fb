import { FerryError, type UploadOfferObject, type UploadPart, uploadOfferObjectSchema } from '@ferry/shared';
import { describeIssues } from '../config.js';
import type { IndexEntry } from '../spool/index-entry.js';

/** An index entry as the upload API describes it: UIDs, sizes and hashes, nothing naming a patient. */
export function offerOf(entry: IndexEntry): UploadOfferObject | FerryError {
  const parsed = uploadOfferObjectSchema.safeParse({
    objectId: entry.id,
    sopInstanceUid: entry.sopInstanceUid,
    ...(entry.studyInstanceUid ? { studyInstanceUid: entry.studyInstanceUid } : {}),
    sha256: entry.sha256,
    plainBytes: entry.plainBytes,
    objectBytes: entry.objectBytes,
    receivedAt: entry.receivedAt,
  });
  return parsed.success
    ? parsed.data
    : new FerryError('request.invalid', `spool entry cannot be offered: ${describeIssues(parsed.error)}`);
}

/**
 * The parts in order, checked to cover the sealed object exactly: the whole-object hash is taken
 * over them in this order, so a gap or an overlap would make it wrong.
 */
export function orderedParts(parts: UploadPart[], objectBytes: number): UploadPart[] {
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  let at = 0;
  for (const p of sorted) {
    if (p.offset !== at || (!p.done && !p.url))
      throw new FerryError('control.bad_response', 'upload parts do not tile the object', {
        details: { partNumber: p.partNumber },
      });
    at += p.length;
  }
  if (at !== objectBytes)
    throw new FerryError('control.bad_response', `upload parts cover ${at} of ${objectBytes} bytes`);
  return sorted;
}
