// The test S3 server (Debian's Ceph radosgw, started by scripts/radosgw.sh or vitest's global setup).
// No vitest and no database here, so the cross-process tests and the benchmarks use it too.
import { S3Client } from '@aws-sdk/client-s3';

/** The test S3 server, as `scripts/radosgw.sh env` prints it. */
export interface S3TestConfig {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export const S3_TEST_HINT =
  'no test S3 server: run `scripts/radosgw.sh start` and `eval "$(scripts/radosgw.sh env)"` (Debian\'s Ceph radosgw; sets FERRY_TEST_S3_*); vitest\'s global setup does both';

/**
 * The test S3 server from FERRY_TEST_S3_ENDPOINT, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY and _REGION.
 * vitest's global setup (test/setup/real-services.ts) starts radosgw when they are unset, so their
 * absence here is a failure, never a skip.
 */
export function s3TestConfig(): S3TestConfig {
  const e = process.env;
  const endpoint = e.FERRY_TEST_S3_ENDPOINT;
  const accessKeyId = e.FERRY_TEST_S3_ACCESS_KEY_ID;
  const secretAccessKey = e.FERRY_TEST_S3_SECRET_ACCESS_KEY;
  if (!endpoint || !accessKeyId || !secretAccessKey) throw new Error(S3_TEST_HINT);
  return { endpoint, region: e.FERRY_TEST_S3_REGION || 'us-east-1', accessKeyId, secretAccessKey };
}

/** An admin client for the test S3 server (path style: radosgw has no wildcard DNS). */
export function testS3Client(cfg: S3TestConfig): S3Client {
  return new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
