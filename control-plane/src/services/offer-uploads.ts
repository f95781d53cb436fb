import { randomUUID } from 'node:crypto';
import {
  type ErrorCode,
  FerryError,
  mapLimit,
  type UploadOfferObject,
  type UploadOfferRequest,
  type UploadOfferResponse,
  type UploadOfferResult,
  type UploadPart,
} from '@ferry/shared';
import { and, eq, inArray } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { uploads } from '../db/schema/index.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';
import { requireAgent } from './permissions.js';
import {
  blobKeyOf,
  handleOf,
  instanceKey,
  MAX_UPLOAD_PARTS,
  partCount,
  partLayout,
  receiptFor,
  STORE_CONCURRENCY,
  storage,
  storedInstancesBySopAndHash,
  UPLOAD_PART_BYTES,
  UPLOAD_URL_SECONDS,
  type UploadDeps,
  type UploadRow,
} from '../ingest/upload-store.js';

function refusal(objectId: string, code: ErrorCode, message: string): UploadOfferResult {
  return { objectId, status: 'refused', code, message };
}

function sameClaims(o: UploadOfferObject, row: UploadRow): boolean {
  return (
    row.sopInstanceUid === o.sopInstanceUid &&
    row.sha256 === o.sha256 &&
    row.plainBytes === o.plainBytes &&
    row.objectBytes === o.objectBytes
  );
}

/** An upload session to hand out: the row, its store handle, and which parts the store already holds. */
interface Target {
  row: Pick<UploadRow, 'id' | 'objectId' | 'objectBytes' | 'partBytes'>;
  handle: UploadHandle;
  held: ReadonlySet<number>;
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

/**
 * The agent offers a batch of spooled objects (up to 500); each one comes back `stored` (with a receipt:
 * the group already holds that SOP Instance UID with that hash), `upload` (part URLs; parts the store
 * already holds are marked `done`, so a restarted agent resumes), or `refused`.
 *
 * Scoped to the calling gateway's group. A batch costs two selects and one insert however large it is;
 * blob-store calls are made only for multipart uploads and for resumed ones. No audit rows (uploads are
 * high volume): one debug log line per object, with ids only.
 */
export async function offerUploads({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: UploadOfferRequest;
  deps: UploadDeps;
}): Promise<UploadOfferResponse> {
  const agent = requireAgent(ctx.actor);
  const { blobStore } = deps;
  const partBytes = deps.partBytes ?? UPLOAD_PART_BYTES;
  const urlSeconds = deps.urlSeconds ?? UPLOAD_URL_SECONDS;
  const now = new Date();
  const expiresAt = new Date(now.getTime() + urlSeconds * 1000).toISOString();
  const objects = input.objects;
  const results: (UploadOfferResult | undefined)[] = new Array(objects.length);

  const seen = new Set<string>();
  objects.forEach((o, i) => {
    if (seen.has(o.objectId)) {
      results[i] = refusal(o.objectId, 'request.invalid', 'this object id is offered twice in one request');
    }
    seen.add(o.objectId);
  });

  const stored = await storedInstancesBySopAndHash(
    ctx.db,
    agent.groupId,
    objects.map((o) => o.sopInstanceUid),
  );
  const existing = await ctx.db
    .select()
    .from(uploads)
    .where(and(eq(uploads.groupId, agent.groupId), inArray(uploads.objectId, [...seen])));
  const rowOf = new Map(existing.map((r) => [r.objectId, r]));

  const toCreate: { i: number; o: UploadOfferObject }[] = [];
  const toResume: { i: number; row: UploadRow }[] = [];
  const toReopen: { i: number; row: UploadRow }[] = [];
  objects.forEach((o, i) => {
    if (results[i]) return;
    const row = rowOf.get(o.objectId);
    const hit = stored.get(instanceKey(o.sopInstanceUid, o.sha256));
    if (hit) {
      const verified = row?.state === 'stored' && row.sha256 === o.sha256 ? row.objectSha256 : null;
      results[i] = { objectId: o.objectId, status: 'stored', receipt: receiptFor(o.objectId, hit, verified) };
      return;
    }
    if (!row) {
      if (partCount(o.objectBytes, partBytes) > MAX_UPLOAD_PARTS) {
        results[i] = refusal(
          o.objectId,
          'request.too_large',
          `an object may have at most ${MAX_UPLOAD_PARTS} parts of ${partBytes} bytes`,
        );
      } else {
        toCreate.push({ i, o });
      }
    } else if (!sameClaims(o, row)) {
      results[i] = refusal(
        o.objectId,
        'resource.conflict',
        'this object id was offered before with another SOP Instance UID, hash or size',
      );
    } else if (row.state === 'stored') {
      // Stored once, but its instance is gone from the index (deleted since): take it again.
      toReopen.push({ i, row });
    } else {
      toResume.push({ i, row });
    }
  });

  const targets = new Map<number, Target>();

  // New uploads: the store first (multipart uploads need its upload id), then one insert for all.
  const made = await mapLimit(toCreate, STORE_CONCURRENCY, async ({ i, o }) => {
    const id = randomUUID();
    const key = blobKeyOf(agent.groupId, o.objectId);
    const handle = await storage('start an upload', () =>
      blobStore.createUpload({ key, uploadId: id, parts: partCount(o.objectBytes, partBytes) }),
    );
    return { i, o, id, handle };
  });
  if (made.length > 0) {
    const inserted = await ctx.db
      .insert(uploads)
      .values(
        made.map(({ o, id, handle }) => ({
          id,
          groupId: agent.groupId,
          gatewayId: agent.gatewayId,
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
      )
      .onConflictDoNothing({ target: [uploads.groupId, uploads.objectId] })
      .returning({ id: uploads.id });
    const won = new Set(inserted.map((r) => r.id));
    const lost: typeof made = [];
    for (const m of made) {
      if (won.has(m.id)) {
        targets.set(m.i, {
          row: { id: m.id, objectId: m.o.objectId, objectBytes: m.o.objectBytes, partBytes },
          handle: m.handle,
          held: new Set(),
        });
      } else {
        lost.push(m);
      }
    }
    if (lost.length > 0) {
      // A concurrent offer of the same objects created them first: drop ours, resume theirs.
      await mapLimit(lost, STORE_CONCURRENCY, (m) =>
        storage('abort an upload', () => blobStore.abortUpload(m.handle)).catch(() => {}),
      );
      const theirs = await ctx.db
        .select()
        .from(uploads)
        .where(
          and(
            eq(uploads.groupId, agent.groupId),
            inArray(
              uploads.objectId,
              lost.map((m) => m.o.objectId),
            ),
          ),
        );
      const byObject = new Map(theirs.map((r) => [r.objectId, r]));
      for (const m of lost) {
        const row = byObject.get(m.o.objectId);
        if (row) toResume.push({ i: m.i, row });
        else
          results[m.i] = refusal(m.o.objectId, 'resource.conflict', 'a concurrent offer changed this object');
      }
    }
  }

  const resumed = await mapLimit(toResume, STORE_CONCURRENCY, async ({ i, row }) => ({
    i,
    row,
    ...(await heldParts(blobStore, row)),
  }));
  for (const r of resumed) {
    targets.set(r.i, { row: r.row, handle: r.handle, held: r.held });
    if (r.handle.backendUploadId !== (r.row.backendUploadId ?? undefined)) {
      await ctx.db
        .update(uploads)
        .set({ backendUploadId: r.handle.backendUploadId ?? null })
        .where(eq(uploads.id, r.row.id));
    }
  }
  if (resumed.length > 0) {
    await ctx.db
      .update(uploads)
      .set({ lastOfferedAt: now })
      .where(
        inArray(
          uploads.id,
          resumed.map((r) => r.row.id),
        ),
      );
  }

  for (const { i, row } of toReopen) {
    const handle = await storage('start an upload', () =>
      blobStore.createUpload({
        key: row.blobKey,
        uploadId: row.id,
        parts: partCount(row.objectBytes, row.partBytes),
      }),
    );
    await ctx.db
      .update(uploads)
      .set({
        state: 'open',
        completedAt: null,
        backendUploadId: handle.backendUploadId ?? null,
        lastOfferedAt: now,
      })
      .where(eq(uploads.id, row.id));
    targets.set(i, { row, handle, held: new Set() });
  }

  const entries = [...targets.entries()];
  const offered = await mapLimit(entries, STORE_CONCURRENCY, async ([i, target]) => {
    const layout = partLayout(target.row.objectBytes, target.row.partBytes);
    const single = layout.length === 1;
    const parts: UploadPart[] = [];
    for (const p of layout) {
      if (target.held.has(p.partNumber)) {
        parts.push({ ...p, done: true });
      } else {
        const url = await storage('sign a part URL', () =>
          blobStore.partUrl(
            target.handle,
            { partNumber: p.partNumber, length: p.length, single },
            urlSeconds,
          ),
        );
        parts.push({ ...p, done: false, url });
      }
    }
    const result: UploadOfferResult = {
      objectId: target.row.objectId,
      status: 'upload',
      uploadId: target.row.id,
      partBytes: target.row.partBytes,
      parts,
      expiresAt,
    };
    return [i, result] as const;
  });
  for (const [i, result] of offered) results[i] = result;

  const answer = results.map(
    (r, i) => r ?? refusal(objects[i]!.objectId, 'internal.unexpected', 'not handled'),
  );
  for (const r of answer) {
    ctx.log.debug(
      {
        event: 'upload.offered',
        objectId: r.objectId,
        status: r.status,
        ...(r.status === 'upload'
          ? { uploadId: r.uploadId, partsToSend: r.parts.filter((p) => !p.done).length }
          : {}),
        ...(r.status === 'refused' ? { code: r.code } : {}),
      },
      'upload offered',
    );
  }
  return { objects: answer };
}
