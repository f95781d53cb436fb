import { createHash, randomBytes } from 'node:crypto';
import {
  UPLOAD_TEST_PATH,
  type UploadTestStartResponse,
  type UploadTestVerifyResponse,
  uploadTestVerifyPath,
} from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  STORE_COMBOS,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** PUTs to a test URL: the app itself for fs URLs, the S3 server for presigned ones. */
async function put(t: TestApp, url: string, body: Buffer): Promise<number> {
  const init = { method: 'PUT', body, headers: { 'content-length': String(body.length) } };
  const res = url.startsWith(TEST_PUBLIC_URL) ? await t.app.request(url, init) : await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

async function start(t: TestApp, gw: TestGateway): Promise<UploadTestStartResponse> {
  const res = await t.request<UploadTestStartResponse>('POST', UPLOAD_TEST_PATH, { token: await gw.token() });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

describe.each(BACKENDS)('agent diagnostics routes security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: UPLOAD_TEST_PATH,
    caller: 'agent',
    otherGroup: 'filtered',
  });

  runCommonRouteTests<{ testId: string }>(backend, {
    method: 'POST',
    path: (ids) => uploadTestVerifyPath(ids.testId),
    caller: 'agent',
    body: { sha256: 'a'.repeat(64) },
    // Verify is one-shot (it deletes the object), and the suite's replay check spends it with group
    // A's first call, so A's later call may find it gone; the round-trip tests below prove the 200.
    okStatus: [200, 404],
    resourceOfGroup: async (t, group) => {
      const started = await start(t, group.gateway!);
      expect(await put(t, started.url, randomBytes(started.bytes))).toBe(200);
      return { testId: started.testId };
    },
  });
});

describe.each(STORE_COMBOS)('upload round-trip test (%s, %s blobs)', (backend, blobs) => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  let sibling: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend, { blobs });
    g = await t.seedGroup('Diagnostics group');
    const { facilityId } = await seedFacility(t, g);
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    sibling = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
  });
  afterAll(async () => {
    await t?.close();
  });

  const keyOf = (testId: string, of: TestGateway = gw) =>
    `g/${of.groupId}/diagnostics/${of.gatewayId}/${testId}.bin`;
  /** What the store holds staged for the test's single PUT. */
  const staged = (testId: string) =>
    t.deps.blobStore.listParts({ key: keyOf(testId), uploadId: testId, backendUploadId: undefined });

  async function verify(testId: string, hash: string, as: TestGateway = gw) {
    return t.request<UploadTestVerifyResponse>('POST', uploadTestVerifyPath(testId), {
      token: await as.token(),
      body: { sha256: hash },
    });
  }

  it('hands out a 1 MiB single-PUT URL, then reads the bytes back, compares and deletes them', async () => {
    const started = await start(t, gw);
    expect(started.bytes).toBe(1024 * 1024);
    expect(Date.parse(started.expiresAt)).toBeGreaterThan(Date.now() + 60_000);
    const body = randomBytes(started.bytes);
    expect(await put(t, started.url, body)).toBe(200);
    // Staged, not at its key: no URL an agent holds writes a key itself (verify publishes it).
    expect(await staged(started.testId)).toEqual([{ partNumber: 1, size: started.bytes }]);
    expect(await t.deps.blobStore.head(keyOf(started.testId))).toBeUndefined();

    const res = await verify(started.testId, sha256(body));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ ok: true, bytes: started.bytes, sha256: sha256(body) });
    expect(await t.deps.blobStore.head(keyOf(started.testId))).toBeUndefined();

    // Verified once: the object is gone.
    expectError(await verify(started.testId, sha256(body)), 404, 'resource.not_found');
  });

  it('says not ok when the hash differs, and still deletes the object', async () => {
    const started = await start(t, gw);
    const body = randomBytes(started.bytes);
    expect(await put(t, started.url, body)).toBe(200);
    const res = await verify(started.testId, 'f'.repeat(64));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ ok: false, bytes: started.bytes, sha256: sha256(body) });
    expect(await t.deps.blobStore.head(keyOf(started.testId))).toBeUndefined();
  });

  it('refuses a body of another length at the PUT', async () => {
    const started = await start(t, gw);
    expect(await put(t, started.url, randomBytes(1000))).not.toBe(200);
    expectError(await verify(started.testId, 'a'.repeat(64)), 404, 'resource.not_found');
  });

  it('keeps each gateway to its own test objects, even in one group', async () => {
    const started = await start(t, gw);
    const body = randomBytes(started.bytes);
    expect(await put(t, started.url, body)).toBe(200);
    expectError(await verify(started.testId, sha256(body), sibling), 404, 'resource.not_found');
    expect(await staged(started.testId)).toEqual([{ partNumber: 1, size: started.bytes }]);
    expect((await verify(started.testId, sha256(body))).body.ok).toBe(true);
  });

  it('names a not-yet-uploaded test as not found, and refuses a bad test id or hash', async () => {
    const started = await start(t, gw);
    expectError(await verify(started.testId, 'a'.repeat(64)), 404, 'resource.not_found');
    expectError(await verify('not-a-uuid', 'a'.repeat(64)), 400, 'request.invalid');
    expectError(await verify(started.testId, 'XYZ'), 400, 'request.invalid');
  });
});
