/**
 * The S3 blob store (AWS S3, Ceph radosgw, ...). The agent PUTs its bytes straight to presigned URLs,
 * so the control plane never carries them; it only starts, lists and completes uploads.
 *
 * A presigned PUT cannot be revoked before it expires, and S3 would let it replace any object. So a
 * single PUT's URL names a staging key (`staging/<uploadId>.<key digest>`), and complete copies it (inside S3) to
 * the object's key and deletes it; multipart part URLs die with CompleteMultipartUpload. No URL ever
 * names an object's key. (A conditional create, `If-None-Match: *` on the presigned PUT, is honoured by
 * radosgw 16 too, but the agent would have to send that header, and the URL would still name the key.)
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { FerryError } from '@ferry/shared';
import {
  assertBlobKey,
  assertExpiry,
  assertPart,
  assertPartCount,
  assertPartKind,
  assertRange,
  checkParts,
  stagingName,
} from './blob-checks.js';
import type { BlobStore, PackUrls, StoredPart, UploadHandle } from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Default us-east-1; radosgw accepts any region name. */
  region: string;
  /** Unset for AWS itself; e.g. http://127.0.0.1:7480 for radosgw. */
  endpoint?: string | undefined;
  /** `bucket` in the path rather than the host name: needed where there is no wildcard DNS (radosgw, MinIO). */
  forcePathStyle: boolean;
  /** Omit to use the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /**
   * Each attempt of a request fails after this long without an answer (default 20 s): a hung S3 fails
   * the caller as storage.unavailable instead of holding it (and an agent's PUT) until the agent gives up.
   */
  requestTimeoutMs?: number | undefined;
  /** Pack URLs (the control plane's own, signed with its blob signing secret); without them no packs. */
  packUrls?: PackUrls | undefined;
}

const CHECK_BUCKET = 'check the bucket';
/** Well above a pack PUT (16 MiB) over a modest uplink; FERRY_S3_TIMEOUT_SECONDS sets it. */
const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
/** FerryError detail: true when S3 refused the request as such (bucket, credentials), not an outage. */
export const MISCONFIGURED_DETAIL = 'misconfigured';
/** What S3 calls a missing object: HeadObject has no body, so its 404 is named NotFound. */
const NOT_FOUND = new Set(['NotFound', 'NoSuchKey']);
/** Where single PUTs land until complete publishes them; a bucket lifecycle rule may expire it after a day. */
export const STAGING_PREFIX = 'staging/';

export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly where: string;
  readonly packUrls: PackUrls | undefined;

  constructor(opts: S3BlobStoreOptions) {
    this.bucket = opts.bucket;
    this.packUrls = opts.packUrls;
    this.where = `S3 bucket "${opts.bucket}"${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // The defaults (WHEN_SUPPORTED) make presigned PUTs carry the CRC32 of an empty body, which AWS then
      // holds the real body against, and send streamed bodies aws-chunked, which radosgw 16 refuses (411).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A black-holed endpoint should fail a request in seconds, not hang on the OS connect timeout; a
      // request S3 accepted but does not answer (headers) fails too. Without throwOnRequestTimeout the
      // SDK only logs a warning. A response body already streaming is not cut: a slow reader (a viewer
      // on a thin link) may pause it for longer.
      requestHandler: {
        connectionTimeout: 5_000,
        requestTimeout: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      },
    });
  }

  /** Fails fast at start when the bucket is missing or the credentials are refused. Creates nothing. */
  async assertReachable(): Promise<void> {
    await this.call(CHECK_BUCKET, () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
  }

  async createUpload(input: { key: string; uploadId: string; parts: number }): Promise<UploadHandle> {
    assertBlobKey(input.key);
    assertPartCount(input.parts);
    if (input.parts === 1) return { key: input.key, uploadId: input.uploadId, backendUploadId: undefined };
    const out = await this.call('start a multipart upload', () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: input.key,
          ContentType: 'application/octet-stream',
        }),
      ),
    );
    if (!out.UploadId) throw new FerryError('storage.unavailable', `${this.where} returned no UploadId`);
    return { key: input.key, uploadId: input.uploadId, backendUploadId: out.UploadId };
  }

  async partUrl(
    upload: UploadHandle,
    part: { partNumber: number; length: number; single: boolean },
    expiresInSeconds: number,
  ): Promise<string> {
    assertBlobKey(upload.key);
    assertPart(part);
    assertExpiry(expiresInSeconds);
    assertPartKind(upload, part);
    // ContentLength makes the presigner sign `content-length` (SignedHeaders=content-length;host), so S3
    // refuses a body of any other length with SignatureDoesNotMatch instead of storing it.
    const options = { expiresIn: expiresInSeconds };
    try {
      return part.single
        ? await getSignedUrl(
            this.client,
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: stagingKey(upload),
              ContentLength: part.length,
            }),
            options,
          )
        : await getSignedUrl(
            this.client,
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: upload.key,
              UploadId: upload.backendUploadId,
              PartNumber: part.partNumber,
              ContentLength: part.length,
            }),
            options,
          );
    } catch (err) {
      throw this.failure('presign a part URL', err);
    }
  }

  async listParts(upload: UploadHandle): Promise<StoredPart[]> {
    return [...(await this.heldParts(upload)).values()].map(({ partNumber, size }) => ({ partNumber, size }));
  }

  async completeUpload(upload: UploadHandle, parts: StoredPart[]): Promise<void> {
    if (upload.backendUploadId === undefined) return this.publishStaged(upload, parts);
    const held = await this.heldParts(upload);
    checkParts(upload, parts, new Map([...held].map(([n, p]) => [n, p.size])));
    // radosgw answers this with an empty ETag; HeadObject afterwards gives the usual "<md5>-<parts>".
    await this.call(
      'complete the multipart upload',
      () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: upload.key,
            UploadId: upload.backendUploadId,
            MultipartUpload: {
              Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: held.get(p.partNumber)!.etag })),
            },
          }),
        ),
      true,
    );
  }

  async abortUpload(upload: UploadHandle): Promise<void> {
    if (upload.backendUploadId === undefined) {
      await this.call('delete a staged object', () =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: stagingKey(upload) })),
      );
      return;
    }
    try {
      await this.call(
        'abort the multipart upload',
        () =>
          this.client.send(
            new AbortMultipartUploadCommand({
              Bucket: this.bucket,
              Key: upload.key,
              UploadId: upload.backendUploadId,
            }),
          ),
        true,
      );
    } catch (err) {
      if (!(err instanceof FerryError && err.code === 'upload.not_found')) throw err;
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    assertBlobKey(key);
    return this.headKey(key);
  }

  private async headKey(key: string): Promise<{ size: number } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (err instanceof S3ServiceException && NOT_FOUND.has(err.name)) return undefined;
      throw this.failure('read an object size', err);
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    assertBlobKey(key);
    if (range) assertRange(range);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      // In Node the SDK's body is an http.IncomingMessage mixed with helpers: a Readable.
      if (!(out.Body instanceof Readable)) throw new Error('GetObject body is not a Node stream');
      return out.Body;
    } catch (err) {
      if (err instanceof S3ServiceException && NOT_FOUND.has(err.name))
        throw new FerryError('resource.not_found', `no stored object ${key}`);
      if (err instanceof S3ServiceException && err.name === 'InvalidRange')
        throw new FerryError(
          'request.invalid',
          `range ${range?.start}-${range?.end} is past the object's end`,
        );
      throw this.failure('read an object', err);
    }
  }

  async putObject(key: string, bytes: Buffer): Promise<void> {
    assertBlobKey(key);
    await this.call('write an object', () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.length }),
      ),
    );
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    // Idempotent in S3: deleting a missing key is a 204.
    await this.call('delete an object', () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  /** Closes the client's sockets; the store is unusable afterwards. */
  destroy(): void {
    this.client.destroy();
  }

  /**
   * A single PUT's complete: the staged object is copied to the key (inside S3, no bytes through here)
   * and deleted. An object already at the key was published by an earlier complete of this upload and
   * stays. The copy is not a conditional create (radosgw 16 ignores If-None-Match on CopyObject), so
   * the HEAD before it is what keeps a late complete from replacing a published object.
   */
  private async publishStaged(upload: UploadHandle, parts: StoredPart[]): Promise<void> {
    assertBlobKey(upload.key);
    if (parts.length !== 1 || parts[0]?.partNumber !== 1)
      throw new FerryError('request.invalid', 'a single PUT is part 1 of its object, and only that');
    const published = await this.head(upload.key);
    if (published) {
      checkParts(upload, parts, new Map([[1, published.size]]));
    } else {
      // The presigned URL signed the length, and verify counts every byte, so the staged object's
      // size is not looked up first: one request less per small object.
      try {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: upload.key,
            CopySource: `${this.bucket}/${stagingKey(upload)}`,
            ContentType: 'application/octet-stream',
            MetadataDirective: 'REPLACE',
          }),
        );
      } catch (err) {
        if (err instanceof S3ServiceException && NOT_FOUND.has(err.name))
          throw new FerryError('upload.incomplete', `upload ${upload.uploadId} is missing part 1`);
        throw this.failure('publish a staged object', err);
      }
    }
    // Off the request's path: nothing reads the staged copy any more, and a delete that fails leaves
    // only garbage under staging/ (see the lifecycle rule in docs/operations.md).
    void this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: stagingKey(upload) }))
      .catch(() => {});
  }

  /** Parts S3 holds, with their ETags (CompleteMultipartUpload needs them); ListParts pages by 1,000. */
  private async heldParts(upload: UploadHandle): Promise<Map<number, StoredPart & { etag: string }>> {
    const held = new Map<number, StoredPart & { etag: string }>();
    if (upload.backendUploadId === undefined) {
      // A single PUT: its one part is the staged object, or the object once published.
      const head = (await this.headKey(stagingKey(upload))) ?? (await this.head(upload.key));
      if (head) held.set(1, { partNumber: 1, size: head.size, etag: '' });
      return held;
    }
    let marker: string | undefined;
    for (;;) {
      const page = await this.call(
        'list uploaded parts',
        () =>
          this.client.send(
            new ListPartsCommand({
              Bucket: this.bucket,
              Key: upload.key,
              UploadId: upload.backendUploadId,
              ...(marker ? { PartNumberMarker: marker } : {}),
            }),
          ),
        true,
      );
      for (const p of page.Parts ?? []) {
        if (p.PartNumber === undefined) continue;
        held.set(p.PartNumber, { partNumber: p.PartNumber, size: p.Size ?? 0, etag: p.ETag ?? '' });
      }
      if (!page.IsTruncated || !page.NextPartNumberMarker || page.NextPartNumberMarker === marker) break;
      marker = page.NextPartNumberMarker;
    }
    return new Map([...held].sort(([a], [b]) => a - b));
  }

  /** Runs one SDK request; `onUpload` marks requests addressed to a multipart upload by its UploadId. */
  private async call<T>(step: string, request: () => Promise<T>, onUpload = false): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.failure(step, err, onUpload);
    }
  }

  /**
   * A FerryError naming the step, the bucket and what S3 said (error name and HTTP status). Only
   * those: the SDK's error objects carry request metadata, so none of them is kept as the cause.
   */
  private failure(step: string, err: unknown, onUpload = false): FerryError {
    if (err instanceof FerryError) return err;
    if (err instanceof S3ServiceException) {
      const status = err.$metadata.httpStatusCode;
      // radosgw 16 answers ListParts on an unknown or aborted UploadId with NoSuchKey where AWS says NoSuchUpload.
      if (err.name === 'NoSuchUpload' || (onUpload && err.name === 'NoSuchKey'))
        return new FerryError(
          'upload.not_found',
          `${this.where} has no such multipart upload (to ${step}); it was completed or aborted, offer the object again`,
        );
      // HeadBucket has no body, so a missing bucket is a bare 404 NotFound there.
      const bucketMissing = err.name === 'NoSuchBucket' || (step === CHECK_BUCKET && status === 404);
      const hint =
        status === 403
          ? '; check the credentials and the bucket policy'
          : bucketMissing
            ? '; create the bucket first (Ferry does not create it)'
            : '';
      return new FerryError(
        'storage.unavailable',
        `${this.where} failed to ${step}: ${err.name} (HTTP ${status ?? 'no status'})${hint}`,
        {
          cause: new Error(`${err.name} ${status ?? ''}`.trim()),
          // S3 refused the request itself (4xx): retrying will not help, unlike a 5xx or a dead link.
          details: { [MISCONFIGURED_DETAIL]: status !== undefined && status >= 400 && status < 500 },
        },
      );
    }
    const e = err as NodeJS.ErrnoException;
    const what = e?.code ?? e?.name ?? 'error';
    // Local failures (connection refused, DNS, no credentials found) carry no secrets in their messages.
    const message = typeof e?.message === 'string' && e.message ? `: ${e.message.slice(0, 200)}` : '';
    return new FerryError(
      'storage.unavailable',
      `${this.where} is unreachable (to ${step}): ${what}${message}`,
      {
        cause: new Error(`${what}${message}`),
        // No credentials anywhere in the chain is a setting to fix, not an outage to wait out.
        details: { [MISCONFIGURED_DETAIL]: e?.name === 'CredentialsProviderError' },
      },
    );
  }
}

/** The staging key of a single-PUT upload. */
function stagingKey(upload: UploadHandle): string {
  return `${STAGING_PREFIX}${stagingName(upload)}`;
}
