import {
  FerryError,
  isFerryError,
  type UploadOfferObject,
  type UploadOfferResult,
  type UploadPack,
  type UploadPart,
  uploadOfferObjectSchema,
} from '@ferry/shared';
import { describeIssues } from '../config.js';
import type { IndexEntry } from '../spool/consumer.js';
import type { UploadApi } from './upload-client.js';
import { verdictOf } from './verdict.js';

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
 * Offers a batch (accepting packs when the API can: their layouts go into `packs`). A batch the
 * control plane refuses as a whole is split until the object at fault is alone, and `refused` is told
 * about that one; a transient failure of the call is thrown.
 */
export async function offerInHalves(
  api: Pick<UploadApi, 'offer' | 'offerPacked'>,
  offers: UploadOfferObject[],
  signal: AbortSignal,
  refused: (objectId: string, code: string, reason: string) => Promise<void>,
  packs: UploadPack[] = [],
): Promise<Map<string, UploadOfferResult>> {
  const out = new Map<string, UploadOfferResult>();
  try {
    const answer = api.offerPacked
      ? await api.offerPacked(offers, signal)
      : { objects: await api.offer(offers, signal) };
    for (const r of answer.objects) if (!out.has(r.objectId)) out.set(r.objectId, r);
    packs.push(...(answer.packs ?? []));
    return out;
  } catch (err) {
    if (verdictOf(err) !== 'permanent') throw err;
    if (offers.length === 1) {
      const fe = isFerryError(err) ? err : undefined;
      await refused(offers[0]!.objectId, fe?.code ?? 'request.invalid', fe?.message ?? String(err));
      return out;
    }
    const half = Math.ceil(offers.length / 2);
    for (const part of [offers.slice(0, half), offers.slice(half)])
      for (const [id, r] of await offerInHalves(api, part, signal, refused, packs)) out.set(id, r);
    return out;
  }
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
