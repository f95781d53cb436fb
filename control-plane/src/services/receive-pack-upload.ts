/**
 * A pack's PUT (routes/blob-packs.ts): several small sealed objects in one body, on either store.
 * The signed URL (checked before this) names the pack and its length; the pack's row says which
 * uploads it holds and where, and the PUT is taken only while one of them is still open.
 *
 * No actor: the URL is the credential. No audit row: uploads are high volume, and a refused PUT
 * changes nothing.
 */
import { FerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import { packWithOpenMember } from '../db/queries/packs.js';
import { receivePack } from '../ingest/pack-upload.js';
import { checkInStream } from '../ingest/stream-checks.js';
import type { BlobStore, PackUrlFields } from '../storage/blob-store.js';

export type { PackUrlFields, PackUrls } from '../storage/blob-store.js';

function notOpen(packId: string): FerryError {
  return new FerryError(
    'upload.not_found',
    `pack ${packId} holds no open upload (stored, cancelled or never offered): offer the objects again`,
  );
}

export async function receivePackUpload({
  ctx,
  deps,
  input,
}: {
  ctx: Ctx;
  deps: { blobStore: BlobStore; privateKeys: readonly JWK[] };
  input: { fields: PackUrlFields; body: AsyncIterable<Uint8Array> };
}): Promise<{ placed: number }> {
  const { fields } = input;
  const found = await packWithOpenMember(ctx.db, fields.packId);
  if (!found) throw notOpen(fields.packId);
  const { anyOpen, ...pack } = found;
  if (pack.bytes !== fields.length)
    throw new FerryError('upload.url_invalid', 'the pack URL is for another length than the pack');
  if (!anyOpen) {
    ctx.log.info({ event: 'upload.pack_refused', packId: pack.id }, 'pack PUT refused: no member is open');
    throw notOpen(pack.id);
  }
  const placed = await receivePack({
    db: ctx.db,
    blobStore: deps.blobStore,
    keys: { privateKeys: deps.privateKeys, cache: checkInStream.cache },
    pack,
    body: input.body,
    log: ctx.log,
  });
  return { placed };
}
