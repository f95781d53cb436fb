/**
 * The read side over what a gateway really uploaded: objects offered, PUT (multipart when large) and
 * completed through the agent upload API, on the fs store and on S3 (radosgw), then read back through
 * the study download, WADO-RS and /metadata, byte for byte. One object is zstd-compressed, as the
 * agent's spool writes native-syntax instances.
 */
import { createHash } from 'node:crypto';
import {
  deriveObjectKey,
  newDataKey,
  type ObjectHeader,
  ObjectSealer,
  type UploadCompleteResponse,
  type UploadOfferResponse,
  type UploadOfferResult,
  wrapDataKey,
} from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BlobBackend,
  createTestApp,
  enrollTestGateway,
  getRaw,
  type SeededGroup,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import {
  newTestUid,
  type SealedTestObject,
  sealTestObject,
} from '../../../testkit/control-plane/seal-object.js';
import { readZip } from '../../../testkit/control-plane/zip-reader.js';

type Upload = Extract<UploadOfferResult, { status: 'upload' }>;
const MIB = 1 << 20;

/** The same instance sealed again with zstd data frames (at most 1 MiB of plaintext each), as the agent does. */
async function resealZstd(obj: SealedTestObject, recipientPublicKey: Parameters<typeof wrapDataKey>[1]) {
  const epochKey = newDataKey();
  const header: ObjectHeader = {
    v: 1,
    objectId: obj.objectId,
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    wrappedKey: await wrapDataKey(epochKey, recipientPublicKey),
    compression: 'zstd',
    contentType: 'application/dicom',
    createdAt: obj.manifest.receivedAt,
  };
  const sealer = new ObjectSealer(header, deriveObjectKey(epochKey, obj.objectId));
  const out: Buffer[] = [sealer.headerBytes, ...sealer.sealManifest(obj.manifest)];
  for (let at = 0; at < obj.plaintext.length; at += MIB) {
    const end = Math.min(obj.plaintext.length, at + MIB);
    out.push(...sealer.sealData([obj.plaintext.subarray(at, end)], end === obj.plaintext.length));
  }
  const bytes = Buffer.concat(out);
  const objectSha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    ...obj,
    bytes,
    objectSha256,
    objectBytes: bytes.length,
    offer: { ...obj.offer, objectBytes: bytes.length },
  };
}

describe.each<BlobBackend>(['fs', 's3'])('reading what a gateway uploaded (postgres, %s blobs)', (blobs) => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  const studyUid = newTestUid();
  const seriesUid = newTestUid();
  let objects: SealedTestObject[];

  async function ship(obj: SealedTestObject): Promise<void> {
    const offered = await t.request<UploadOfferResponse>('POST', '/api/v1/agents/uploads', {
      token: await gw.token(),
      body: { objects: [obj.offer] },
    });
    expect(offered.status, offered.text).toBe(200);
    const target = offered.body.objects[0] as Upload;
    expect(target.status, JSON.stringify(target)).toBe('upload');
    for (const p of target.parts) {
      const body = obj.bytes.subarray(p.offset, p.offset + p.length);
      const init = { method: 'PUT', body, headers: { 'content-length': String(body.length) } };
      const url = p.url!;
      const res = url.startsWith(TEST_PUBLIC_URL) ? await t.app.request(url, init) : await fetch(url, init);
      await res.arrayBuffer();
      expect(res.status, `PUT part ${p.partNumber}`).toBe(200);
    }
    const done = await t.request<UploadCompleteResponse>('POST', '/api/v1/agents/uploads/complete', {
      token: await gw.token(),
      body: {
        objects: [{ objectId: obj.objectId, uploadId: target.uploadId, objectSha256: obj.objectSha256 }],
      },
    });
    expect(done.status, done.text).toBe(200);
    expect(done.body.objects[0]?.status, JSON.stringify(done.body)).toBe('stored');
  }

  beforeAll(async () => {
    t = await createTestApp('postgres', { blobs });
    g = await t.seedGroup('Uploaded studies');
    const { facilityId } = await seedFacility(t, g);
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    const seal = (n: number, padBytes?: number) =>
      sealTestObject({
        recipientPublicKey: t.deps.recipientPublicKey,
        sample: 'CT_small.dcm',
        set: {
          studyInstanceUid: studyUid,
          seriesInstanceUid: seriesUid,
          sopInstanceUid: newTestUid(),
          instanceNumber: n,
        },
        ...(padBytes ? { padBytes } : {}),
      });
    // A multipart upload (over 8 MiB), a small single PUT, and a zstd-compressed object of several frames.
    const large = await seal(1, 12 * MIB);
    const small = await seal(2);
    const zstd = await resealZstd(await seal(3, 3 * MIB), t.deps.recipientPublicKey);
    expect(zstd.objectBytes).toBeLessThan(zstd.plainBytes);
    objects = [large, small, zstd];
    for (const obj of objects) await ship(obj);
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (path: string) => getRaw(t, path, { token: g.reader.token });

  it('downloads the study as a zip of the uploaded Part-10 files', async () => {
    const res = await get(`/api/v1/studies/${studyUid}/download`);
    expect(res.status).toBe(200);
    const { entries } = readZip(Buffer.from(await res.arrayBuffer()));
    expect(entries.map((e) => e.name)).toEqual(['1/1.dcm', '1/2.dcm', '1/3.dcm']);
    entries.forEach((e, i) => {
      expect(e.bytes.equals(objects[i]!.plaintext), e.name).toBe(true);
    });
  });

  it('retrieves them with WADO-RS and answers their headers with /metadata', async () => {
    const res = await getRaw(t, `/dicomweb/studies/${studyUid}`, {
      token: g.reader.token,
      headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
    });
    expect(res.status).toBe(200);
    const parts = readMultipart(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type') ?? '');
    expect(parts.map((p, i) => p.body.equals(objects[i]!.plaintext))).toEqual([true, true, true]);
    const meta = await get(`/dicomweb/studies/${studyUid}/series/${seriesUid}/metadata`);
    const datasets = (await meta.json()) as Record<string, { Value?: unknown[] }>[];
    expect(datasets.map((d) => d['00080018']?.Value?.[0]).sort()).toEqual(
      objects.map((o) => o.manifest.sopInstanceUid).sort(),
    );
  });
});
