import { join } from 'node:path';
import { isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { Env } from '../env.js';
import type { SecretBox } from '../keys/secret-box.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { PackUrls } from './pack-urls.js';
import { loadBlobSigningSecret } from './part-signature.js';

/**
 * S3 when FERRY_S3_BUCKET is set (packs of small objects still PUT to this app, on signed URLs), else the embedded directory FERRY_DATA_DIR/blobs. An S3 bucket is
 * checked here (HeadBucket) so a wrong name or refused credentials stop the start, not the first upload;
 * an S3 outage at start is logged and ridden out.
 */
export async function createBlobStore(opts: {
  env: Pick<Env, 's3' | 'dataDir' | 'publicUrl'>;
  db: Db;
  log: Logger;
  /** Seals the fs store's URL signing secret in the database. */
  secrets: SecretBox;
}): Promise<BlobStore> {
  const { env, log } = opts;
  if (env.s3) {
    // Loaded only when asked for: the AWS SDK costs start-up time and warns about Node 20 on load.
    const { S3BlobStore, MISCONFIGURED_DETAIL } = await import('./s3-blob-store.js');
    const store = new S3BlobStore({
      bucket: env.s3.bucket,
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      forcePathStyle: env.s3.forcePathStyle,
      requestTimeoutMs: env.s3.requestTimeoutMs,
      // Packs of small objects go through this app even with S3 (one PUT to S3 per pack, checked here).
      packUrls: new PackUrls(env.publicUrl, await loadBlobSigningSecret(opts.db, opts.secrets)),
    });
    try {
      await store.assertReachable();
    } catch (err) {
      if (!isFerryError(err) || err.details?.[MISCONFIGURED_DETAIL] !== false) {
        store.destroy();
        throw err;
      }
      // An S3 outage (5xx, unreachable) must not keep the control plane down with it: the worklist and
      // the fleet need no blobs, and calls that do answer storage.unavailable, which agents retry.
      log.warn(
        { event: 'blob_store.unreachable', code: err.code, err: err.message },
        'S3 is unreachable at start; starting anyway, blob calls fail as storage.unavailable until it is back',
      );
      return store;
    }
    log.info(
      { event: 'blob_store.ready', kind: 's3', bucket: env.s3.bucket, endpoint: env.s3.endpoint },
      'blob store ready',
    );
    return store;
  }
  const root = join(env.dataDir, 'blobs');
  const store = new FsBlobStore({
    root,
    publicUrl: env.publicUrl,
    signingSecret: await loadBlobSigningSecret(opts.db, opts.secrets),
  });
  await store.init();
  log.info({ event: 'blob_store.ready', kind: 'fs', root }, 'blob store ready');
  return store;
}
