// A fresh bucket per test on the real S3 server (Debian's Ceph radosgw, started by scripts/radosgw.sh
// and `.ci/run`), and the control-plane environment that points at it.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3TestConfig, testS3Client } from '../../testkit/control-plane/s3.js';

export async function freshS3Bucket(): Promise<{
  bucket: string;
  env: Record<string, string>;
  client: S3Client;
  drop(): Promise<void>;
}> {
  const t = s3TestConfig();
  const client = testS3Client(t);
  const bucket = `ferry-e2e-${randomBytes(5).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    client,
    env: {
      FERRY_S3_ENDPOINT: t.endpoint,
      FERRY_S3_BUCKET: bucket,
      FERRY_S3_REGION: t.region,
      FERRY_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: t.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
    },
    async drop() {
      for (;;) {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
        if (keys.length === 0) break;
        // One by one: DeleteObjects needs a checksum header that radosgw and the SDK disagree on.
        for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
  };
}
