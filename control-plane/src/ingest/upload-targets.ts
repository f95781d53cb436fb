/**
 * The upload sessions an offer hands out: new ones started, open ones resumed (with the parts the
 * store holds), stored ones whose instance left the index reopened.
 */
import { randomUUID } from 'node:crypto';
import {
  FerryError,
  mapLimit,
  type UploadOfferObject,
  type UploadOfferResult,
  type UploadPart,
} from '@ferry/shared';
import type { Ctx } from '../context.js';
import {
  insertUploads,
  markOffered,
  reopenUpload,
  setBackendUploadId,
  type UploadRow,
  uploadsByObjectIds,
} from '../db/queries/ingest-uploads.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';
import { blobKeyOf, handleOf, partCount, partLayout, STORE_CONCURRENCY, storage } from './upload-store.js';

/** An upload session to hand out: the row, its store handle, and which parts the store already holds. */
export interface Target {
  row: Pick<UploadRow, 'id' | 'objectId' | 'objectBytes' | 'partBytes'>;
  handle: UploadHandle;
  held: ReadonlySet<number>;
}

/** One offer while its targets are made. */
export interface Offer {
  ctx: Ctx;
  groupId: string;
  gatewayId: string;
  blobStore: BlobStore;
  partBytes: number;
  now: Date;
  targets: Map<number, Target>;
}

/**
 * Small single-PUT objects are not looked up when resumed: sending one again costs about what asking
 * the store costs, and a batch of 500 re-offered small objects would otherwise be 500 HEAD requests.
 */
export const RESUME_PROBE_MIN_BYTES = 1024 * 1024;

/**
 * Which parts of an open upload the store holds. An upload whose object is already published (a
 * complete that failed after publishing it) holds everything; a single PUT holds its part once staged;
 * a multipart upload the store has forgotten (aborted, expired) starts over under a new backend upload.
 */
async function heldParts(
  blobStore: BlobStore,
  row: UploadRow,
): Promise<{ held: Set<number>; handle: UploadHandle }> {
  const layout = partLayout(row.objectBytes, row.partBytes);
  const handle = handleOf(row);
  const all = new Set(layout.map((p) => p.partNumber));
  // A pack PUT holds it (in the pack's blob, which no sweep takes while this upload is open).
  if (row.blobOffset !== null) return { held: all, handle };
  if (layout.length === 1 && row.objectBytes < RESUME_PROBE_MIN_BYTES) return { held: new Set(), handle };
  const head = await storage('read an object size', () => blobStore.head(row.blobKey));
  if (head?.size === row.objectBytes) return { held: all, handle };
  try {
    const listed = await storage('list uploaded parts', () => blobStore.listParts(handle));
    const want = new Map(layout.map((p) => [p.partNumber, p.length]));
    return {
      held: new Set(listed.filter((p) => want.get(p.partNumber) === p.size).map((p) => p.partNumber)),
      handle,
    };
  } catch (err) {
    if (!(err instanceof FerryError && err.code === 'upload.not_found')) throw err;
    const fresh = await storage('start an upload', () =>
      blobStore.createUpload({ key: row.blobKey, uploadId: row.id, parts: layout.length }),
    );
    return { held: new Set(), handle: fresh };
  }
}

type Made = { i: number; o: UploadOfferObject; id: string; handle: UploadHandle };

/** Drops the uploads a concurrent offer of the same objects created first; answers theirs to resume. */
async function yieldToConcurrent(offer: Offer, lost: Made[]) {
  await mapLimit(lost, STORE_CONCURRENCY, (m) =>
    storage('abort an upload', () => offer.blobStore.abortUpload(m.handle)).catch(() => {}),
  );
  const theirs = await uploadsByObjectIds(
    offer.ctx.db,
    offer.groupId,
    lost.map((m) => m.o.objectId),
  );
  const byObject = new Map(theirs.map((r) => [r.objectId, r]));
  return lost.map((m) => ({ i: m.i, objectId: m.o.objectId, row: byObject.get(m.o.objectId) }));
}

/**
 * New uploads: the store first (multipart uploads need its upload id), then one insert for all.
 * Answers the objects a concurrent offer created first, with its row when there is one.
 */
export async function startUploads(offer: Offer, toCreate: { i: number; o: UploadOfferObject }[]) {
  const { blobStore, partBytes, now } = offer;
  const made = await mapLimit(toCreate, STORE_CONCURRENCY, async ({ i, o }): Promise<Made> => {
    const id = randomUUID();
    const key = blobKeyOf(offer.groupId, o.objectId);
    const handle = await storage('start an upload', () =>
      blobStore.createUpload({ key, uploadId: id, parts: partCount(o.objectBytes, partBytes) }),
    );
    return { i, o, id, handle };
  });
  if (made.length === 0) return [];
  const won = await insertUploads(
    offer.ctx.db,
    made.map(({ o, id, handle }) => ({
      id,
      groupId: offer.groupId,
      gatewayId: offer.gatewayId,
      objectId: o.objectId,
      sopInstanceUid: o.sopInstanceUid,
      studyInstanceUid: o.studyInstanceUid ?? null,
      sha256: o.sha256,
      plainBytes: o.plainBytes,
      objectBytes: o.objectBytes,
      partBytes,
      blobKey: handle.key,
      backendUploadId: handle.backendUploadId ?? null,
      receivedAt: new Date(o.receivedAt),
      lastOfferedAt: now,
    })),
  );
  for (const m of made.filter((m) => won.has(m.id))) {
    const row = { id: m.id, objectId: m.o.objectId, objectBytes: m.o.objectBytes, partBytes };
    offer.targets.set(m.i, { row, handle: m.handle, held: new Set() });
  }
  const lost = made.filter((m) => !won.has(m.id));
  return lost.length > 0 ? yieldToConcurrent(offer, lost) : [];
}

/** Open uploads go on with the parts the store holds; their offer time moves on. */
export async function resumeUploads(offer: Offer, toResume: { i: number; row: UploadRow }[]): Promise<void> {
  const resumed = await mapLimit(toResume, STORE_CONCURRENCY, async ({ i, row }) => ({
    i,
    row,
    ...(await heldParts(offer.blobStore, row)),
  }));
  for (const r of resumed) {
    offer.targets.set(r.i, { row: r.row, handle: r.handle, held: r.held });
    if (r.handle.backendUploadId !== (r.row.backendUploadId ?? undefined)) {
      await setBackendUploadId(offer.ctx.db, r.row.id, r.handle.backendUploadId ?? null);
    }
  }
  await markOffered(
    offer.ctx.db,
    resumed.map((r) => r.row.id),
    offer.now,
  );
}

/** Stored uploads whose instance left the index take every part again, under a new backend upload. */
export async function reopenUploads(offer: Offer, toReopen: { i: number; row: UploadRow }[]): Promise<void> {
  for (const { i, row: stored } of toReopen) {
    // A member of a pack starts over as a whole object of its own (or in a new pack).
    const row = { ...stored, blobKey: blobKeyOf(stored.groupId, stored.objectId), blobOffset: null };
    const handle = await storage('start an upload', () =>
      offer.blobStore.createUpload({
        key: row.blobKey,
        uploadId: row.id,
        parts: partCount(row.objectBytes, row.partBytes),
      }),
    );
    await reopenUpload(offer.ctx.db, row.id, row.blobKey, handle.backendUploadId ?? null, offer.now);
    offer.targets.set(i, { row, handle, held: new Set() });
  }
}

/** The offer's answer for a target: every part, signed unless the store holds it. */
export async function signTarget(
  blobStore: BlobStore,
  target: Target,
  urlSeconds: number,
  expiresAt: string,
): Promise<UploadOfferResult> {
  const layout = partLayout(target.row.objectBytes, target.row.partBytes);
  const single = layout.length === 1;
  const parts: UploadPart[] = [];
  for (const p of layout) {
    if (target.held.has(p.partNumber)) {
      parts.push({ ...p, done: true });
      continue;
    }
    const url = await storage('sign a part URL', () =>
      blobStore.partUrl(target.handle, { partNumber: p.partNumber, length: p.length, single }, urlSeconds),
    );
    parts.push({ ...p, done: false, url });
  }
  return {
    objectId: target.row.objectId,
    status: 'upload',
    uploadId: target.row.id,
    partBytes: target.row.partBytes,
    parts,
    expiresAt,
  };
}
