/**
 * The blob store of a test app: `fs` (the default) in a fresh temp directory, or `s3` in a fresh
 * bucket on the test S3 server (Debian's Ceph radosgw, scripts/radosgw.sh); close() removes either.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Db } from '../../control-plane/src/db/client.js';
import type { SecretBox } from '../../control-plane/src/keys/secret-box.js';
import type { BlobStore } from '../../control-plane/src/storage/blob-store.js';
import { FsBlobStore } from '../../control-plane/src/storage/fs-blob-store.js';
import { PackUrls } from '../../control-plane/src/storage/pack-urls.js';
import { loadBlobSigningSecret } from '../../control-plane/src/storage/part-signature.js';
import { S3BlobStore } from '../../control-plane/src/storage/s3-blob-store.js';
import { nextId, TEST_PUBLIC_URL } from './names.js';
import { S3_TEST_HINT, s3TestConfig, testS3Client } from './s3.js';

export type BlobBackend = 'fs' | 's3';
export const BLOB_BACKENDS: BlobBackend[] = ['fs', 's3'];

export interface TestBlobStore {
  store: BlobStore;
  close(): Promise<void>;
}

export async function openTestBlobStore(
  blobs: BlobBackend,
  db: Db,
  secrets: SecretBox,
): Promise<TestBlobStore> {
  if (blobs === 'fs') {
    const root = await mkdtemp(join(tmpdir(), 'ferry-blobs-'));
    const store = new FsBlobStore({
      root,
      publicUrl: TEST_PUBLIC_URL,
      signingSecret: await loadBlobSigningSecret(db, secrets),
    });
    await store.init();
    return { store, close: () => rm(root, { recursive: true, force: true }) };
  }
  const cfg = s3TestConfig();
  const admin = testS3Client(cfg);
  const bucket = `ferry-test-${nextId()}`;
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (cause) {
    admin.destroy();
    const what = (cause as Error).name;
    throw new Error(`test S3 server at ${cfg.endpoint} refused CreateBucket (${what}); ${S3_TEST_HINT}`, {
      cause,
    });
  }
  const store = new S3BlobStore({
    bucket,
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    packUrls: new PackUrls(TEST_PUBLIC_URL, await loadBlobSigningSecret(db, secrets)),
  });
  return {
    store,
    close: async () => {
      store.destroy();
      try {
        await emptyBucket(admin, bucket);
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        admin.destroy();
      }
    },
  };
}

/** Aborts open multipart uploads and deletes every object, so the bucket can be deleted. */
async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? [])
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
      );
    if (!uploads.IsTruncated) break;
  }
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
    if (keys.length === 0) break;
    // One by one: DeleteObjects needs a Content-MD5 or checksum, which radosgw 16 and the SDK disagree on.
    for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  }
}
