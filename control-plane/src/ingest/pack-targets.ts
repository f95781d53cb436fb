/**
 * Packs in an offer: small objects whose uploads are about to get a single-PUT URL each are put
 * together instead, up to PACK_MAX_MEMBERS and PACK_MAX_BYTES a pack, and sent in one PUT through the
 * control plane (pack-upload.ts). Only for an agent that asked (`acceptPacks`) and a store that signs
 * pack URLs. Each member keeps its own upload row, so its complete, receipt and any retry are its own.
 */
import { randomUUID } from 'node:crypto';
import type { UploadOfferResult, UploadPack } from '@ferry/shared';
import { insertPacks } from '../db/queries/packs.js';
import type { PackMember } from '../db/schema/packs.js';
import type { PackUrls } from '../storage/blob-store.js';
import type { Offer, Target } from './upload-targets.js';

/** Objects up to this size may be packed; larger ones are sent as before (one PUT, or multipart). */
export const PACK_MEMBER_MAX_BYTES = 2 * 1024 * 1024;
/** A pack is held whole in memory while its members are checked: this bounds it. */
export const PACK_MAX_BYTES = 16 * 1024 * 1024;
export const PACK_MAX_MEMBERS = 64;

function packable(t: Target): boolean {
  return (
    t.held.size === 0 && t.row.objectBytes <= PACK_MEMBER_MAX_BYTES && t.row.objectBytes <= t.row.partBytes
  );
}

/** Groups the offer's eligible targets in offer order; a group of one is sent on its own as before. */
function groups(offer: Offer): [number, Target][][] {
  const out: [number, Target][][] = [];
  let current: [number, Target][] = [];
  let bytes = 0;
  const eligible = [...offer.targets.entries()].filter(([, t]) => packable(t)).sort((a, b) => a[0] - b[0]);
  for (const entry of eligible) {
    const size = entry[1].row.objectBytes;
    if (current.length >= PACK_MAX_MEMBERS || (current.length > 0 && bytes + size > PACK_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out.filter((g) => g.length > 1);
}

/**
 * Takes the packable targets out of `offer.targets`, answers them `packed` in `results`, records the
 * packs' layouts (one insert) and returns the packs with their signed URLs.
 */
export async function packTargets(
  offer: Offer,
  urls: PackUrls,
  results: (UploadOfferResult | undefined)[],
  urlSeconds: number,
  expiresAt: string,
): Promise<UploadPack[]> {
  const made = groups(offer).map((group) => {
    const id = randomUUID();
    let offset = 0;
    const members: PackMember[] = group.map(([, t]) => {
      const m = { uploadId: t.row.id, objectId: t.row.objectId, offset, length: t.row.objectBytes };
      offset += t.row.objectBytes;
      return m;
    });
    return { id, group, members, bytes: offset };
  });
  if (made.length === 0) return [];
  await insertPacks(
    offer.ctx.db,
    made.map((p) => ({
      id: p.id,
      groupId: offer.groupId,
      gatewayId: offer.gatewayId,
      bytes: p.bytes,
      members: p.members,
    })),
  );
  return made.map((p) => {
    for (const [i, t] of p.group) {
      offer.targets.delete(i);
      results[i] = { objectId: t.row.objectId, status: 'packed', uploadId: t.row.id, packId: p.id };
    }
    return {
      packId: p.id,
      url: urls.sign(p.id, p.bytes, urlSeconds),
      length: p.bytes,
      members: p.members.map(({ objectId, uploadId, offset, length }) => ({
        objectId,
        uploadId,
        offset,
        length,
      })),
      expiresAt,
    };
  });
}
