/**
 * Path traversal in every identifier that reaches storage: study, series and instance UIDs in the
 * DICOMweb and study routes, upload ids, part numbers and keys in the fs store's part PUTs, object ids
 * in upload offers, and keys handed to the fs store itself. A canary file sits beside the blob root:
 * it is never served, never changed, and the root holds nothing new afterwards. The fs store and the
 * path checks do not depend on the database backend, so PGlite is enough here.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeak } from '../../../testkit/control-plane/attack.js';
import {
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { seedStoredInstance } from '../../../testkit/control-plane/seed-stored-study.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';

const CANARY = 'ferry-canary-4f1c2a';

const HOSTILE_IDS = [
  '..',
  '../..',
  '%2e%2e',
  '%2e%2e%2f%2e%2e%2fcanary.txt',
  '..%2f..%2fcanary.txt',
  '..%5c..%5ccanary.txt',
  '%2fetc%2fpasswd',
  '%00',
  '1.2.3%00.dcm',
  '1.2.840.10008',
  '1.2.3.4.5.6.7.8.9.0'.repeat(4),
  'not-a-uid',
  '1.2.3;rm -rf',
  'g%2F..%2F..%2Fcanary.txt',
];

describe('storage identifiers (pglite, fs blobs)', () => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  let store: FsBlobStore;
  let canaryPath: string;
  let before: string[];
  let study: { studyUid: string; seriesUid: string; sopUid: string };

  /** Every path under the blob root, relative. */
  const listRoot = async (): Promise<string[]> =>
    (await readdir(store.root, { recursive: true })).map(String).sort();

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Storage paths');
    gw = await enrollTestGateway(t, g);
    if (!(t.deps.blobStore instanceof FsBlobStore)) throw new Error('this test needs the fs blob store');
    store = t.deps.blobStore;
    canaryPath = join(dirname(store.root), `${CANARY}.txt`);
    await writeFile(canaryPath, CANARY);
    const facility = await seedFacility(t, g);
    const stored = await seedStoredInstance(t, { groupId: g.groupId, facilityId: facility.facilityId });
    const m = stored.sealed.manifest;
    study = {
      studyUid: m.study.instanceUid ?? '',
      seriesUid: m.series.instanceUid ?? '',
      sopUid: m.sopInstanceUid,
    };
    before = await listRoot();
  });
  afterAll(async () => {
    await rm(canaryPath, { force: true });
    await t?.close();
  });

  const expectRefused = (
    res: { status: number; text: string; headers: Headers; body: unknown },
    what: string,
  ) => {
    const context = `${what} → ${res.status} ${res.text.slice(0, 200)}`;
    expect([400, 403, 404], context).toContain(res.status);
    const code = (res.body as { error?: { code?: string } }).error?.code;
    expect(['request.invalid', 'resource.not_found', 'upload.url_invalid'], context).toContain(code);
    expect(res.text, context).not.toContain(CANARY);
    expect(findLeak(res.text), context).toBeUndefined();
  };

  it('refuses hostile UIDs in every DICOMweb and study path with 400 or 404', async () => {
    // A whole `..` segment, plain or as %2e%2e, is resolved by URL parsing (WHATWG, as the node
    // server does) before any route sees it: it can only climb to another route of the same caller.
    // Everything else, %2f and %00 included, reaches the routes as a parameter.
    for (const bad of HOSTILE_IDS.filter((id) => !/^(\.|%2e){2}(\/|$)/i.test(id))) {
      const paths = [
        `/dicomweb/studies/${bad}`,
        `/dicomweb/studies/${bad}/metadata`,
        `/dicomweb/studies/${bad}/series`,
        `/dicomweb/studies/${study.studyUid}/series/${bad}`,
        `/dicomweb/studies/${study.studyUid}/series/${bad}/metadata`,
        `/dicomweb/studies/${study.studyUid}/series/${study.seriesUid}/instances/${bad}`,
        `/dicomweb/studies/${study.studyUid}/series/${study.seriesUid}/instances/${bad}/metadata`,
        `/api/v1/studies/${bad}`,
        `/api/v1/studies/${bad}/download`,
      ];
      for (const path of paths) expectRefused(await t.request('GET', path, { token: g.reader.token }), path);
    }
    // The real study is still there: the refusals were about the ids, not a broken route.
    const ok = await t.request('GET', `/api/v1/studies/${study.studyUid}`, { token: g.reader.token });
    expect(ok.status, ok.text).toBe(200);
  });

  it('refuses part PUTs whose upload id, part number or key try to leave the root (403 upload.url_invalid)', async () => {
    const query = (key: string) =>
      `len=5&key=${encodeURIComponent(key)}&single=1&exp=${Math.floor(Date.now() / 1000) + 600}&sig=AAAA`;
    const attempts = [
      ...HOSTILE_IDS.map((id) => `/blobs/uploads/${id}/parts/1?${query('g/x/o/y.fobj')}`),
      ...HOSTILE_IDS.map((n) => `/blobs/uploads/${randomUUID()}/parts/${n}?${query('g/x/o/y.fobj')}`),
      ...[
        '../canary.txt',
        '/etc/passwd',
        `../${CANARY}.txt`,
        'g/../../x',
        '.uploads/x/1',
        'a\u0000b',
        'x'.repeat(600),
      ].map((key) => `/blobs/uploads/${randomUUID()}/parts/1?${query(key)}`),
    ];
    for (const path of attempts) {
      const res = await t.request('PUT', path, {
        rawBody: 'owned',
        headers: { 'content-type': 'application/octet-stream' },
      });
      expectRefused(res, path);
    }
  });

  it('refuses upload offers whose object ids are paths (400 request.invalid)', async () => {
    for (const objectId of [
      '../../../canary',
      '..%2f..%2fcanary',
      '/etc/passwd',
      'a/b/c/d/e/f/g/h/i/j',
      `${'a'.repeat(16)}\u0000`,
    ]) {
      const res = await t.request('POST', '/api/v1/agents/uploads', {
        token: await gw.token(),
        body: {
          objects: [
            {
              objectId,
              sopInstanceUid: '1.2.3',
              sha256: 'a'.repeat(64),
              plainBytes: 10,
              objectBytes: 100,
              receivedAt: new Date().toISOString(),
            },
          ],
        },
      });
      expectError(res, 400, 'request.invalid');
    }
  });

  it('the fs store itself refuses keys and upload ids that leave its root', async () => {
    const keys = [
      `../${CANARY}.txt`,
      '/etc/passwd',
      'a/../../x',
      '.uploads/x',
      'a//b',
      'a\u0000b',
      './a',
      'a/./b',
      'x'.repeat(513),
    ];
    for (const key of keys) {
      await expect(store.get(key), key).rejects.toMatchObject({ code: 'request.invalid' });
      await expect(store.head(key), key).rejects.toMatchObject({ code: 'request.invalid' });
      await expect(store.delete(key), key).rejects.toMatchObject({ code: 'request.invalid' });
      await expect(store.createUpload({ key, uploadId: randomUUID(), parts: 2 }), key).rejects.toMatchObject({
        code: 'request.invalid',
      });
    }
    for (const uploadId of ['..', '../x', 'a/b', '.', '']) {
      await expect(
        store.createUpload({ key: 'g/a/o/b.fobj', uploadId, parts: 2 }),
        uploadId,
      ).rejects.toMatchObject({
        code: 'request.invalid',
      });
    }
  });

  it('left the canary untouched and the blob root as it was', async () => {
    expect(await readFile(canaryPath, 'utf8')).toBe(CANARY);
    expect(await listRoot()).toEqual(before);
  });

  // Regression: a failing fs store named its directory in the answer (storage.unavailable's message).
  it('does not name the blob directory when the store fails', async () => {
    const uploads = join(store.root, '.uploads');
    await rm(uploads, { recursive: true, force: true });
    await writeFile(uploads, 'not a directory');
    try {
      const res = await t.request('POST', '/api/v1/agents/uploads', {
        token: await gw.token(),
        body: {
          objects: [
            {
              objectId: `obj${randomUUID().replace(/-/g, '')}`,
              sopInstanceUid: '1.2.3.4',
              sha256: 'b'.repeat(64),
              plainBytes: 20 << 20,
              objectBytes: 20 << 20,
              receivedAt: new Date().toISOString(),
            },
          ],
        },
      });
      expectError(res, 503, 'storage.unavailable');
      expect(res.text).not.toContain(store.root);
      expect(findLeak(res.text), res.text).toBeUndefined();
    } finally {
      await rm(uploads, { force: true });
      await mkdir(uploads);
    }
  });
});
