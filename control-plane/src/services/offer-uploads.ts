import {
  mapLimit,
  type UploadOfferRequest,
  type UploadOfferResponse,
  type UploadOfferResult,
} from '@ferry/shared';
import type { Ctx } from '../context.js';
import { offerLookups } from '../db/queries/upload-offer.js';
import { refusal, refuseRepeats, triage } from '../ingest/offer-triage.js';
import { packTargets } from '../ingest/pack-targets.js';
import {
  STORE_CONCURRENCY,
  UPLOAD_PART_BYTES,
  UPLOAD_URL_SECONDS,
  type UploadDeps,
} from '../ingest/upload-store.js';
import {
  type Offer,
  reopenUploads,
  resumeUploads,
  signTarget,
  startUploads,
} from '../ingest/upload-targets.js';
import { requireAgent } from './permissions.js';

function logOffered(ctx: Ctx, answer: UploadOfferResult[]): void {
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
}

/**
 * The agent offers a batch of spooled objects (up to 500); each one comes back `stored` (with a receipt:
 * the group already holds that SOP Instance UID with that hash), `upload` (part URLs; parts the store
 * already holds are marked `done`, so a restarted agent resumes), or `refused`.
 *
 * With `acceptPacks`, small objects that would each get a single-PUT URL are answered `packed` instead
 * and sent together, a pack to a PUT (ingest/pack-targets.ts).
 *
 * Scoped to the calling gateway's group. A batch costs one select and one insert however large it is;
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
  const { groupId } = agent;
  const objects = input.objects;
  const partBytes = deps.partBytes ?? UPLOAD_PART_BYTES;
  const urlSeconds = deps.urlSeconds ?? UPLOAD_URL_SECONDS;
  const now = new Date();
  const expiresAt = new Date(now.getTime() + urlSeconds * 1000).toISOString();

  const results: (UploadOfferResult | undefined)[] = new Array(objects.length);
  const offered = refuseRepeats(objects, results);
  const { stored, uploads: rows } = await offerLookups(
    ctx.db,
    groupId,
    objects.map((o) => o.sopInstanceUid),
    [...offered],
  );
  const t = triage(objects, results, new Map(rows.map((r) => [r.objectId, r])), stored, partBytes);

  const offer: Offer = {
    ctx,
    groupId,
    gatewayId: agent.gatewayId,
    blobStore: deps.blobStore,
    partBytes,
    now,
    targets: new Map(),
  };
  for (const lost of await startUploads(offer, t.toCreate)) {
    if (lost.row) t.toResume.push({ i: lost.i, row: lost.row });
    else
      results[lost.i] = refusal(lost.objectId, 'resource.conflict', 'a concurrent offer changed this object');
  }
  await resumeUploads(offer, t.toResume);
  await reopenUploads(offer, t.toReopen);
  const packUrls = deps.blobStore.packUrls;
  const packs =
    input.acceptPacks && packUrls ? await packTargets(offer, packUrls, results, urlSeconds, expiresAt) : [];

  await mapLimit([...offer.targets.entries()], STORE_CONCURRENCY, async ([i, target]) => {
    results[i] = await signTarget(deps.blobStore, target, urlSeconds, expiresAt);
  });
  const answer = results.map(
    (r, i) => r ?? refusal(objects[i]!.objectId, 'internal.unexpected', 'not handled'),
  );
  logOffered(ctx, answer);
  return packs.length > 0 ? { objects: answer, packs } : { objects: answer };
}
