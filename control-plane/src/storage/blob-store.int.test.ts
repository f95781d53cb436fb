/**
 * Both blob stores against real peers: fs through the real app on a real socket (the route of
 * routes/blob-parts.ts), s3 straight to Debian's Ceph radosgw (scripts/radosgw.sh). Uploads go the way
 * the agent sends them: `fetch` PUTs of a Buffer, which carry Content-Length and no other credentials.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFerryError } from '@ferry/shared';
import { type ServerType, serve } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BLOB_BACKENDS,
  type BlobBackend,
  createTestApp,
  enrollTestGateway,
  s3TestConfig,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { uploads } from '../db/schema/index.js';
import type { BlobStore, UploadHandle } from './blob-store.js';
import { createBlobStore } from './create-blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

const s3 = s3TestConfig();
const MiB = 1 << 20;
/** S3 refuses to complete a multipart upload whose parts (all but the last) are under 5 MiB. */
const PART = 5 * MiB;

const md5 = (b: Uint8Array) => `"${createHash('md5').update(b).digest('hex')}"`;
const newKey = () => `g/${randomUUID()}/o/${randomBytes(12).toString('base64url')}.fobj`;
const read = async (s: Readable) => Buffer.from(await buffer(s));

async function expectFerryError(p: Promise<unknown>, code: string): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFerryError(err), `expected a FerryError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  return err as Error;
}

/**
 * One URL with one thing changed, per backend: what an agent (or anyone holding a URL) could alter.
 * Each keeps the body length right, so only the signature can be what refuses it.
 */
const TAMPERS: Record<BlobBackend, Array<[string, (u: URL) => void]>> = {
  fs: [
    ['a character of sig', (u) => u.searchParams.set('sig', flip(u.searchParams.get('sig')!))],
    ['len', (u) => u.searchParams.set('len', String(Number(u.searchParams.get('len')) + 1))],
    ['key', (u) => u.searchParams.set('key', newKey())],
    ['key to a path outside the root', (u) => u.searchParams.set('key', '../../etc/x')],
    ['single', (u) => u.searchParams.set('single', '1')],
    ['exp (later)', (u) => u.searchParams.set('exp', String(Number(u.searchParams.get('exp')) + 3600))],
    ['the part number', (u) => (u.pathname = u.pathname.replace(/\/parts\/1$/, '/parts/2'))],
    ['the upload id', (u) => (u.pathname = u.pathname.replace(/uploads\/[^/]+/, `uploads/${randomUUID()}`))],
    ['no sig at all', (u) => u.searchParams.delete('sig')],
  ],
  s3: [
    ['a character of X-Amz-Signature', (u) => u.searchParams.set('X-Amz-Signature', flipHex(u))],
    [
      'X-Amz-SignedHeaders (content-length dropped)',
      (u) => u.searchParams.set('X-Amz-SignedHeaders', 'host'),
    ],
    ['X-Amz-Expires', (u) => u.searchParams.set('X-Amz-Expires', '604800')],
    ['the key', (u) => (u.pathname = u.pathname.replace(/\.fobj$/, 'x.fobj'))],
    ['partNumber', (u) => u.searchParams.set('partNumber', '2')],
  ],
};

/**
 * An upload as offer-uploads starts one: in the store, and open in the database, where the fs route
 * looks before it writes a byte.
 */
async function startUpload(
  t: TestApp,
  gw: TestGateway,
  store: BlobStore,
  parts: number,
): Promise<UploadHandle> {
  const key = newKey();
  const upload = await store.createUpload({ key, uploadId: randomUUID(), parts });
  await t.database.db.insert(uploads).values({
    id: upload.uploadId,
    groupId: gw.groupId,
    gatewayId: gw.gatewayId,
    objectId: `o${randomBytes(12).toString('hex')}`,
    sopInstanceUid: '2.25.1',
    sha256: 'a'.repeat(64),
    plainBytes: 1,
    objectBytes: 1,
    partBytes: 1,
    blobKey: key,
    backendUploadId: upload.backendUploadId ?? null,
    receivedAt: new Date(),
  });
  return upload;
}

function flip(s: string): string {
  return (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
}
function flipHex(u: URL): string {
  const s = u.searchParams.get('X-Amz-Signature')!;
  return (s[0] === 'a' ? 'b' : 'a') + s.slice(1);
}

describe.each(BLOB_BACKENDS)('blob store (%s)', (blobs) => {
  let t: TestApp;
  let gw: TestGateway;
  let store: BlobStore;
  let server: ServerType | undefined;
  let origin = '';

  beforeAll(async () => {
    t = await createTestApp('pglite', { blobs });
    gw = await enrollTestGateway(t, await t.seedGroup());
    store = t.deps.blobStore;
    if (blobs === 'fs') {
      // fs part URLs name the app's public URL; the app is served here, as a load balancer would.
      const s = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
      server = s;
      await new Promise<void>((resolve) => s.once('listening', () => resolve()));
      origin = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    }
  });
  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    await t?.close();
  });

  const reachable = (url: string) => (blobs === 'fs' ? url.replace(TEST_PUBLIC_URL, origin) : url);
  const put = (url: string, body: Uint8Array) =>
    fetch(reachable(url), { method: 'PUT', body, signal: AbortSignal.timeout(30_000) });
  const multipart = (parts = 3) => startUpload(t, gw, store, parts);
  const single = () => startUpload(t, gw, store, 1);

  it('is the configured kind', () => {
    expect(store.kind).toBe(blobs);
  });

  it('single PUT: the URL takes the whole object; head, get, ranged get and delete see it', async () => {
    const bytes = randomBytes(100_000);
    const upload = await single();
    expect(await store.listParts(upload)).toEqual([]);
    const url = await store.partUrl(upload, { partNumber: 1, length: bytes.length, single: true }, 60);
    const res = await put(url, bytes);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('etag')).toBe(md5(bytes));
    expect(await store.listParts(upload)).toEqual([{ partNumber: 1, size: bytes.length }]);
    // Staged, not at the key: only complete publishes it there.
    expect(await store.head(upload.key)).toBeUndefined();
    await store.completeUpload(upload, [{ partNumber: 1, size: bytes.length }]);
    expect(await store.listParts(upload)).toEqual([{ partNumber: 1, size: bytes.length }]);
    expect(await store.head(upload.key)).toEqual({ size: bytes.length });
    expect((await read(await store.get(upload.key))).equals(bytes)).toBe(true);
    const part = await read(await store.get(upload.key, { start: 1000, end: 1999 }));
    expect(part.equals(bytes.subarray(1000, 2000))).toBe(true);
    await store.delete(upload.key);
    expect(await store.head(upload.key)).toBeUndefined();
    await store.delete(upload.key); // idempotent
  });

  it('multipart: 3 parts, listParts after 2 shows 2 (resume), complete joins them in order', async () => {
    const sizes = [PART, PART, 123_457];
    const bytes = randomBytes(sizes.reduce((a, b) => a + b, 0));
    const slices = [bytes.subarray(0, PART), bytes.subarray(PART, 2 * PART), bytes.subarray(2 * PART)];
    const upload = await multipart(3);
    expect(await store.listParts(upload)).toEqual([]);
    const urls = await Promise.all(
      slices.map((s, i) =>
        store.partUrl(upload, { partNumber: i + 1, length: s.length, single: false }, 300),
      ),
    );
    for (const i of [0, 1]) {
      const res = await put(urls[i]!, slices[i]!);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get('etag')).toBe(md5(slices[i]!));
    }
    expect(await store.listParts(upload)).toEqual([
      { partNumber: 1, size: PART },
      { partNumber: 2, size: PART },
    ]);
    // A resumed agent sends only what is missing; a part sent twice (a retry) replaces itself.
    expect((await put(urls[1]!, slices[1]!)).status).toBe(200);
    expect((await put(urls[2]!, slices[2]!)).status).toBe(200);
    const held = await store.listParts(upload);
    expect(held).toEqual(sizes.map((size, i) => ({ partNumber: i + 1, size })));
    await store.completeUpload(upload, held);
    expect(await store.head(upload.key)).toEqual({ size: bytes.length });
    expect((await read(await store.get(upload.key))).equals(bytes)).toBe(true);
    // A range across the boundary of parts 1 and 2.
    const range = { start: PART - 100, end: PART + 99 };
    const got = await read(await store.get(upload.key, range));
    expect(got.equals(bytes.subarray(range.start, range.end + 1))).toBe(true);
    await store.delete(upload.key);
  });

  it('complete refuses while a part is missing or of another size (upload.incomplete)', async () => {
    const upload = await multipart(2);
    const url = await store.partUrl(upload, { partNumber: 1, length: 10, single: false }, 60);
    expect((await put(url, randomBytes(10))).status).toBe(200);
    await expectFerryError(
      store.completeUpload(upload, [
        { partNumber: 1, size: 10 },
        { partNumber: 2, size: 10 },
      ]),
      'upload.incomplete',
    );
    await expectFerryError(store.completeUpload(upload, [{ partNumber: 1, size: 11 }]), 'upload.incomplete');
    await store.abortUpload(upload);
    await store.abortUpload(upload); // idempotent
  });

  it.each(TAMPERS[blobs])(
    'a URL with %s changed is refused (403) and stores nothing',
    async (_name, tamper) => {
      const upload = await multipart(2);
      const bytes = randomBytes(16);
      const u = new URL(
        await store.partUrl(upload, { partNumber: 1, length: bytes.length, single: false }, 60),
      );
      tamper(u);
      const body = blobs === 'fs' ? randomBytes(Number(u.searchParams.get('len') ?? 16)) : bytes;
      const res = await put(u.toString(), body);
      const text = await res.text();
      expect(res.status, text).toBe(403);
      if (blobs === 'fs') expect(JSON.parse(text).error.code).toBe('upload.url_invalid');
      else expect(text).toContain('SignatureDoesNotMatch');
      expect(await store.listParts(upload)).toEqual([]);
      await store.abortUpload(upload);
    },
  );

  it('an expired URL is refused (403)', async () => {
    const upload = await multipart(2);
    const bytes = randomBytes(16);
    const url = await store.partUrl(upload, { partNumber: 1, length: bytes.length, single: false }, 1);
    await sleep(2_100);
    const res = await put(url, bytes);
    const text = await res.text();
    expect(res.status, text).toBe(403);
    if (blobs === 'fs') {
      expect(JSON.parse(text).error).toMatchObject({ code: 'upload.url_invalid' });
      expect(JSON.parse(text).error.message).toMatch(/expired/);
    } else expect(text).toContain('AccessDenied');
    expect(await store.listParts(upload)).toEqual([]);
    await store.abortUpload(upload);
  });

  it.each([
    ['one byte more', 1],
    ['one byte less', -1],
  ])('a body of %s than signed is refused and stores nothing', async (_name, delta) => {
    const one = await single();
    const singleUrl = await store.partUrl(one, { partNumber: 1, length: 1000, single: true }, 60);
    const upload = await multipart(2);
    const partUrl = await store.partUrl(upload, { partNumber: 1, length: 1000, single: false }, 60);
    for (const url of [singleUrl, partUrl]) {
      const res = await put(url, randomBytes(1000 + delta));
      const text = await res.text();
      // fs checks Content-Length itself; S3 signed it (SignedHeaders=content-length;host).
      if (blobs === 'fs') expect([res.status, JSON.parse(text).error.code]).toEqual([400, 'request.invalid']);
      else expect([res.status, text]).toEqual([403, expect.stringContaining('SignatureDoesNotMatch')]);
    }
    expect(await store.listParts(one)).toEqual([]);
    expect(await store.listParts(upload)).toEqual([]);
    await store.abortUpload(upload);
  });

  it('refuses a single-PUT URL for a multipart upload, and a part URL for a single PUT', async () => {
    const upload = await multipart(2);
    const one = await single();
    expect(upload.backendUploadId).toBeDefined();
    expect(one.backendUploadId).toBeUndefined();
    const part = { partNumber: 1, length: 8 };
    await expectFerryError(store.partUrl(upload, { ...part, single: true }, 60), 'request.invalid');
    await expectFerryError(store.partUrl(one, { ...part, single: false }, 60), 'request.invalid');
    await store.abortUpload(upload);
  });

  it('a missing object: head is undefined, get is resource.not_found', async () => {
    const key = newKey();
    expect(await store.head(key)).toBeUndefined();
    await expectFerryError(store.get(key), 'resource.not_found');
  });

  it('part PUTs of a closed (aborted) upload are refused', async () => {
    const upload = await multipart(2);
    const url = await store.partUrl(upload, { partNumber: 1, length: 8, single: false }, 60);
    await store.abortUpload(upload);
    const res = await put(url, randomBytes(8));
    const text = await res.text();
    expect(res.status, text).toBe(404);
    if (blobs === 'fs') expect(JSON.parse(text).error.code).toBe('upload.not_found');
    else expect(text).toContain('NoSuchUpload');
    await expectFerryError(store.listParts(upload), 'upload.not_found');
  });

  it('a single PUT URL never names the object key; a PUT after complete leaves the object as published', async () => {
    const first = randomBytes(4096);
    const upload = await single();
    const url = await store.partUrl(upload, { partNumber: 1, length: first.length, single: true }, 60);
    // S3 would let a presigned PUT replace any object: the URL names a staging key instead.
    if (blobs === 's3') expect(decodeURIComponent(new URL(url).pathname)).not.toContain(upload.key);
    expect((await put(url, first)).status).toBe(200);
    await store.completeUpload(upload, [{ partNumber: 1, size: first.length }]);
    // A late PUT while the upload still looks open to the store (the fs route's database check aside),
    // then a second complete, as two completes of one upload racing would: the first object stays.
    expect((await put(url, randomBytes(first.length))).status).toBe(200);
    await store.completeUpload(upload, [{ partNumber: 1, size: first.length }]);
    expect((await read(await store.get(upload.key))).equals(first)).toBe(true);
    // Nothing is left staged by the second complete either.
    await store.abortUpload(upload);
    expect(await store.listParts(upload)).toEqual([{ partNumber: 1, size: first.length }]);
    await store.delete(upload.key);
    expect(await store.listParts(upload)).toEqual([]);
  });

  it('a part PUT after the multipart upload is complete is refused (404), the object unchanged', async () => {
    const upload = await multipart(1 + 1);
    const slices = [randomBytes(PART), randomBytes(10)];
    const urls = await Promise.all(
      slices.map((b, i) => store.partUrl(upload, { partNumber: i + 1, length: b.length, single: false }, 60)),
    );
    for (const [i, b] of slices.entries()) expect((await put(urls[i]!, b)).status).toBe(200);
    await store.completeUpload(upload, [
      { partNumber: 1, size: PART },
      { partNumber: 2, size: 10 },
    ]);
    const res = await put(urls[1]!, randomBytes(10));
    const text = await res.text();
    expect(res.status, text).toBe(404);
    if (blobs === 'fs') expect(JSON.parse(text).error.code).toBe('upload.not_found');
    else expect(text).toContain('NoSuchUpload');
    expect((await read(await store.get(upload.key))).equals(Buffer.concat(slices))).toBe(true);
    await store.delete(upload.key);
  });

  it('a staged single PUT that is aborted is gone', async () => {
    const upload = await single();
    const url = await store.partUrl(upload, { partNumber: 1, length: 8, single: true }, 60);
    expect((await put(url, randomBytes(8))).status).toBe(200);
    await store.abortUpload(upload);
    expect(await store.listParts(upload)).toEqual([]);
    await expectFerryError(store.completeUpload(upload, [{ partNumber: 1, size: 8 }]), 'upload.incomplete');
    expect(await store.head(upload.key)).toBeUndefined();
  });

  if (blobs === 'fs')
    it('the fs route writes only for an upload open in the database (stored, cancelled: 404)', async () => {
      for (const close of [
        (id: string) => t.database.db.update(uploads).set({ state: 'stored' }).where(eq(uploads.id, id)),
        (id: string) => t.database.db.delete(uploads).where(eq(uploads.id, id)),
      ]) {
        for (const upload of [await single(), await multipart(2)]) {
          const url = await store.partUrl(
            upload,
            { partNumber: 1, length: 8, single: upload.backendUploadId === undefined },
            60,
          );
          await close(upload.uploadId);
          const res = await put(url, randomBytes(8));
          const text = await res.text();
          expect([res.status, JSON.parse(text).error.code], text).toEqual([404, 'upload.not_found']);
          expect(await store.listParts(upload)).toEqual([]);
          await store.abortUpload(upload);
        }
      }
    });

  it(`the app serves part PUTs only for the fs store`, async () => {
    const res = await t.request('PUT', `/blobs/uploads/${randomUUID()}/parts/1?len=1`, { rawBody: 'x' });
    if (blobs === 'fs') expectError(res, 403, 'upload.url_invalid');
    else expectError(res, 404, 'resource.not_found');
  });
});

describe('fs blob store: keys, bodies and the disk', () => {
  let t: TestApp;
  let gw: TestGateway;
  let store: FsBlobStore;
  beforeAll(async () => {
    t = await createTestApp('pglite', { blobs: 'fs' });
    gw = await enrollTestGateway(t, await t.seedGroup());
    store = t.deps.blobStore as FsBlobStore;
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Files left in an upload's part directory (temp files included). */
  const leftovers = (u: UploadHandle) => readdir(join(store.root, '.uploads', u.uploadId));

  it.each([
    '../x',
    '/etc/passwd',
    'g/../../x',
    'g/./x',
    '.uploads/u/1',
    'g//x',
    'g/x/',
    'g/x\0y',
    'g/x y',
    'g/%2e%2e/x',
    '',
  ])('rejects the key %j everywhere, before touching the disk', async (key) => {
    const handle = { key, uploadId: randomUUID(), backendUploadId: undefined };
    await expectFerryError(store.createUpload({ key, uploadId: randomUUID(), parts: 2 }), 'request.invalid');
    await expectFerryError(
      store.partUrl(handle, { partNumber: 1, length: 1, single: true }, 60),
      'request.invalid',
    );
    await expectFerryError(store.head(key), 'request.invalid');
    await expectFerryError(store.get(key), 'request.invalid');
    await expectFerryError(store.delete(key), 'request.invalid');
  });

  it('rejects upload ids that are not plain names', async () => {
    await expectFerryError(
      store.createUpload({ key: newKey(), uploadId: '../x', parts: 2 }),
      'request.invalid',
    );
  });

  it.each([
    ['short', 999],
    ['long', 1001],
  ])(
    'a %s body under the right Content-Length header is discarded; the part is not kept',
    async (_n, size) => {
      const upload = await startUpload(t, gw, store, 2);
      const url = new URL(await store.partUrl(upload, { partNumber: 1, length: 1000, single: false }, 60));
      // app.request does not derive Content-Length from the body, so the header can lie as a broken peer's would.
      const res = await t.app.request(url.toString(), {
        method: 'PUT',
        headers: { 'content-length': '1000' },
        body: randomBytes(size),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('request.invalid');
      expect(await leftovers(upload)).toEqual([]);
    },
  );

  it('a body cut off mid-way on a real socket leaves no part and no temp file', async () => {
    const upload = await startUpload(t, gw, store, 2);
    const length = 4 * MiB;
    const url = new URL(await store.partUrl(upload, { partNumber: 1, length, single: false }, 60));
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    try {
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      const port = (server.address() as AddressInfo).port;
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: url.pathname + url.search,
        headers: { 'content-length': String(length) },
      });
      req.on('error', () => {});
      req.write(randomBytes(MiB));
      await sleep(200);
      req.destroy();
      // The server notices the reset, fails the write and removes the temp file.
      for (let i = 0; i < 50 && (await leftovers(upload)).length > 0; i++) await sleep(100);
      expect(await leftovers(upload)).toEqual([]);
      expect(await store.listParts(upload)).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a body without Content-Length (chunked) is refused with request.invalid', async () => {
    const upload = await store.createUpload({ key: newKey(), uploadId: randomUUID(), parts: 2 });
    const url = await store.partUrl(upload, { partNumber: 1, length: 10, single: false }, 60);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(randomBytes(10));
        c.close();
      },
    });
    const res = await t.app.request(url, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(400);
    expect(await leftovers(upload)).toEqual([]);
  });

  it('createBlobStore without S3 settings roots the store at FERRY_DATA_DIR/blobs', async () => {
    const dataDir = join(store.root, 'data-dir');
    const made = await createBlobStore({
      env: { s3: undefined, dataDir, publicUrl: 'http://cp.example' },
      db: t.database.db,
      secrets: t.deps.secretBox,
      log: pino({ level: 'silent' }),
    });
    expect(made).toBeInstanceOf(FsBlobStore);
    expect((made as FsBlobStore).root).toBe(join(dataDir, 'blobs'));
    expect((await readdir(join(dataDir, 'blobs'))).sort()).toEqual(['.staging', '.uploads']);
    // Replicas share the signing secret through the database: the URLs of one verify on the other.
    const upload = await startUpload(t, gw, made, 1);
    const url = new URL(await made.partUrl(upload, { partNumber: 1, length: 5, single: true }, 60));
    expect(url.origin).toBe('http://cp.example');
    const res = await t.app.request(`${TEST_PUBLIC_URL}${url.pathname}${url.search}`, {
      method: 'PUT',
      headers: { 'content-length': '5' },
      body: 'hello',
    });
    expect(res.status).toBe(200);
  });
});

describe('s3 blob store: errors and start-up', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { blobs: 's3' });
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await t?.close();
  });

  const storeFor = (o: Partial<ConstructorParameters<typeof S3BlobStore>[0]>) =>
    new S3BlobStore({
      bucket: (t.deps.blobStore as S3BlobStore).bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      ...o,
    });

  it.each([
    ['a missing bucket', () => ({ bucket: `ferry-missing-${randomUUID().slice(0, 8)}` }), /NotFound.*404/],
    [
      'a wrong secret key',
      () => ({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret-key-0000' } }),
      /403.*credentials/,
    ],
    ['an endpoint that is down', () => ({ endpoint: 'http://127.0.0.1:9' }), /unreachable.*ECONNREFUSED/],
  ])('%s fails as storage.unavailable, naming the bucket and never a secret', async (_n, opts, pattern) => {
    const store = storeFor(opts());
    try {
      const err = await expectFerryError(store.assertReachable(), 'storage.unavailable');
      expect(err.message).toMatch(pattern);
      expect(err.message).toContain('S3 bucket "');
      const everything = JSON.stringify({ m: err.message, c: String(err.cause), s: err.stack });
      expect(everything).not.toContain(s3.secretAccessKey);
      expect(everything).not.toContain('not-the-secret-key');
    } finally {
      store.destroy();
    }
  });

  it('a PUT that S3 does not answer in FERRY_S3_TIMEOUT_SECONDS fails as storage.unavailable, not hangs', async () => {
    const bytes = randomBytes(32 * MiB);
    // Real radosgw: no 32 MiB PUT is answered within 1 ms; the same store with time to spare writes it.
    const hasty = storeFor({ requestTimeoutMs: 1 });
    const key = newKey();
    try {
      const err = await expectFerryError(hasty.putObject(key, bytes), 'storage.unavailable');
      expect(err.message).toMatch(/unreachable \(to write an object\): ETIMEDOUT/);
    } finally {
      hasty.destroy();
    }
    await t.deps.blobStore.putObject(key, bytes.subarray(0, MiB));
    expect((await t.deps.blobStore.head(key))?.size).toBe(MiB);
    // An S3 that takes the request and never answers: the SDK's retries included, the caller is freed.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hung = storeFor({
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      requestTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      const err = await expectFerryError(
        hung.putObject(newKey(), bytes.subarray(0, MiB)),
        'storage.unavailable',
      );
      expect(err.message).toMatch(/ETIMEDOUT.*300 ms/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      hung.destroy();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('createBlobStore takes FERRY_S3_* and the AWS credential chain, and fails fast on a missing bucket', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
    const base = { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, requestTimeoutMs: 20_000 };
    const deps = { db: t.database.db, secrets: t.deps.secretBox, log: pino({ level: 'silent' }) };
    const env = (bucket: string) => ({
      s3: { bucket, ...base },
      dataDir: '/nonexistent',
      publicUrl: 'http://x',
    });
    const made = await createBlobStore({ env: env((t.deps.blobStore as S3BlobStore).bucket), ...deps });
    expect(made).toBeInstanceOf(S3BlobStore);
    (made as S3BlobStore).destroy();
    const err = await expectFerryError(
      createBlobStore({ env: env('ferry-no-such-bucket'), ...deps }),
      'storage.unavailable',
    );
    expect(err.message).toContain('ferry-no-such-bucket');
  });

  it('createBlobStore starts through an S3 outage (5xx, unreachable) and logs it, but not through a refused bucket', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
    // A stand-in S3 that is up but failing, as radosgw answers while its OSD is busy.
    const failing = serve({
      fetch: () => new Response('<Error><Code>ServiceUnavailable</Code></Error>', { status: 503 }),
      port: 0,
      hostname: '127.0.0.1',
    });
    await new Promise<void>((resolve) => failing.once('listening', () => resolve()));
    const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'info' },
      { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    const env = (endpoint: string, bucket = 'ferry-outage') => ({
      s3: { bucket, endpoint, region: s3.region, forcePathStyle: true, requestTimeoutMs: 20_000 },
      dataDir: '/nonexistent',
      publicUrl: 'http://x',
    });
    try {
      for (const endpoint of [failingUrl, 'http://127.0.0.1:9']) {
        const made = await createBlobStore({
          env: env(endpoint),
          db: t.database.db,
          secrets: t.deps.secretBox,
          log,
        });
        expect(made).toBeInstanceOf(S3BlobStore);
        // Blob calls fail as the outage they are (agents retry them) instead of the start failing.
        await expectFerryError(
          made.createUpload({ key: newKey(), uploadId: randomUUID(), parts: 2 }),
          'storage.unavailable',
        );
        (made as S3BlobStore).destroy();
      }
      const warned = lines.filter((l) => l.event === 'blob_store.unreachable');
      expect(warned.map((l) => l.err)).toEqual([
        expect.stringMatching(/HTTP 503/),
        expect.stringMatching(/unreachable.*ECONNREFUSED/),
      ]);
      // S3 answering 4xx is a setting to fix: the start still stops.
      await expectFerryError(
        createBlobStore({
          env: env(s3.endpoint, 'ferry-no-such-bucket'),
          db: t.database.db,
          secrets: t.deps.secretBox,
          log,
        }),
        'storage.unavailable',
      );
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'not-the-secret-key-0000');
      await expectFerryError(
        createBlobStore({
          env: env(s3.endpoint, (t.deps.blobStore as S3BlobStore).bucket),
          db: t.database.db,
          secrets: t.deps.secretBox,
          log,
        }),
        'storage.unavailable',
      );
    } finally {
      failing.close();
      vi.unstubAllEnvs();
    }
  });
});
