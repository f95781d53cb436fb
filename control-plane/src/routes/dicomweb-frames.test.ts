import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import dicomweb from 'dicomweb-client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dcmjsFrames,
  MULTI_FRAME_BYTES,
  nativeMultiFrame,
} from '../../../testkit/control-plane/dcmjs-frames.js';
import { instancePath, runDicomwebReadSecurity } from '../../../testkit/control-plane/dicomweb-security.js';
import {
  BACKENDS,
  BLOB_BACKENDS,
  createTestApp,
  type SeededGroup,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import { newTestUid, readSample } from '../../../testkit/control-plane/seal-object.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import {
  type StoredTestInstance,
  seedStoredInstance,
} from '../../../testkit/control-plane/seed-stored-study.js';
import { auditLog, instances } from '../db/schema/index.js';
import { arrayBufferOf, dcmjs } from '../dicom/dcmjs.js';
import type { BlobStore } from '../storage/blob-store.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
/** What cornerstone's dicom-image-loader sends for every frame (wadors loadImage). */
const CORNERSTONE = 'multipart/related; type=application/octet-stream; transfer-syntax=*';

/** The part of dicomweb-client 0.11.3 used here (its typings mark every option as required). */
interface ViewerClient {
  retrieveInstanceMetadata(o: InstanceRef): Promise<unknown>;
  retrieveInstanceFrames(
    o: InstanceRef & {
      frameNumbers: string;
      mediaTypes?: { mediaType: string; transferSyntaxUID?: string }[];
    },
  ): Promise<ArrayBuffer[]>;
  retrieveBulkData(o: { BulkDataURI: string }): Promise<ArrayBuffer[]>;
}
interface InstanceRef {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
}
const DicomwebClientClass = dicomweb.api.DICOMwebClient as unknown as new (opts: {
  url: string;
  headers: Record<string, string>;
  verbose: boolean;
}) => ViewerClient;

type Element = { vr: string; Value?: unknown[]; BulkDataURI?: string };
type Dataset = Record<string, Element>;

describe.each(BLOB_BACKENDS)('WADO-RS frames, bulk data and metadata (%s blobs)', (blobs) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  const studyUid = newTestUid();
  const seriesUid = newTestUid();
  const seeded: Record<string, StoredTestInstance> = {};
  let facility: string | undefined;

  /** Seeds a sample into group A's study (UIDs rewritten unless `raw`: a big endian file stays as sent). */
  async function seed(
    name: string,
    opts: { sample?: string; part10?: Buffer; raw?: boolean; frameBytes?: number },
  ) {
    facility ??= (await seedFacility(t, a)).facilityId;
    const where = { groupId: a.groupId, facilityId: facility };
    const set = { studyInstanceUid: studyUid, seriesInstanceUid: seriesUid, sopInstanceUid: newTestUid() };
    seeded[name] = await seedStoredInstance(t, where, {
      ...(opts.sample ? { sample: opts.sample } : {}),
      ...(opts.part10 ? { part10: opts.part10 } : {}),
      ...(opts.raw || opts.part10 ? {} : { set }),
      frameBytes: opts.frameBytes ?? 4096,
    });
  }

  beforeAll(async () => {
    t = await createTestApp('pglite', { blobs });
    a = await t.seedGroup('Frames A');
    b = await t.seedGroup('Frames B');
    await seed('ct', { sample: 'CT_small.dcm' });
    await seed('rtdose', { sample: 'rtdose.dcm' });
    await seed('rle', { sample: 'SC_rgb_rle_2frame.dcm' });
    await seed('jls', { sample: 'MR_small_jpeg_ls_lossless.dcm' });
    await seed('j2k', { sample: 'MR_small_jp2klossless.dcm' });
    await seed('jpeg', { sample: 'SC_rgb_jpeg_dcmtk.dcm' });
    await seed('bigEndian', { sample: 'MR_small_bigendian.dcm', raw: true });
    await seed('ecg', { sample: 'waveform_ecg.dcm' });
    const set = {
      studyInstanceUid: newTestUid(),
      seriesInstanceUid: newTestUid(),
      sopInstanceUid: newTestUid(),
    };
    await seed('hundred', { part10: await nativeMultiFrame(100, set), frameBytes: 16 * 1024 });
  });
  afterAll(async () => {
    await t?.close();
  });

  const pathOf = (name: string) => {
    const m = seeded[name]!.sealed.manifest;
    return `/dicomweb/studies/${m.study.instanceUid}/series/${m.series.instanceUid}/instances/${m.sopInstanceUid}`;
  };
  const get = (path: string, opts: { accept?: string; token?: string; requestId?: string } = {}) =>
    t.app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
      headers: {
        authorization: `Bearer ${opts.token ?? a.reader.token}`,
        ...(opts.accept ? { accept: opts.accept } : {}),
        ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
      },
    });
  const parts = async (res: Response) => {
    const type = res.headers.get('content-type') ?? '';
    expect(res.status, type.startsWith('application/json') ? await res.clone().text() : type).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return { type, parts: readMultipart(Buffer.from(await res.arrayBuffer()), type) };
  };

  it('answers native frames in the order asked, byte-identical to the Pixel Data sent', async () => {
    const expected = dcmjsFrames(seeded.rtdose!.sealed.plaintext, 400);
    expect(expected).toHaveLength(15);
    for (const accept of [
      AS_STORED,
      CORNERSTONE,
      'multipart/related; type="application/octet-stream"',
      '*/*',
    ]) {
      const got = await parts(await get(`${pathOf('rtdose')}/frames/3,1,15`, { accept }));
      expect(got.type, accept).toMatch(/^multipart\/related; type="application\/octet-stream"; boundary=/);
      expect(got.parts.map((p) => p.headers['content-type'])).toEqual(
        Array(3).fill(`application/octet-stream; transfer-syntax=${EXPLICIT_LE}`),
      );
      expect(got.parts.map((p) => p.body.equals(expected[[3, 1, 15][got.parts.indexOf(p)]! - 1]!))).toEqual([
        true,
        true,
        true,
      ]);
    }
    // Big endian answers little endian: MR_small's own pixels.
    const le = dcmjsFrames(await readSample('MR_small.dcm'))[0]!;
    const be = await parts(await get(`${pathOf('bigEndian')}/frames/1`, { accept: CORNERSTONE }));
    expect(be.parts[0]!.body.equals(le)).toBe(true);
  });

  it('answers encapsulated frames as stored, in the type asked, with their transfer syntax', async () => {
    const cases: { name: string; accept: string; type: string; ts: string }[] = [
      { name: 'rle', accept: CORNERSTONE, type: 'application/octet-stream', ts: '1.2.840.10008.1.2.5' },
      {
        name: 'rle',
        accept: 'multipart/related; type="image/x-dicom-rle"',
        type: 'image/x-dicom-rle',
        ts: '1.2.840.10008.1.2.5',
      },
      {
        name: 'jls',
        accept: 'multipart/related; type="image/jls"',
        type: 'image/jls',
        ts: '1.2.840.10008.1.2.4.80',
      },
      { name: 'j2k', accept: '*/*', type: 'image/jp2', ts: '1.2.840.10008.1.2.4.90' },
      {
        name: 'jpeg',
        accept: 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50',
        type: 'image/jpeg',
        ts: '1.2.840.10008.1.2.4.50',
      },
    ];
    for (const c of cases) {
      const expected = dcmjsFrames(seeded[c.name]!.sealed.plaintext);
      const list = expected.map((_, i) => i + 1).join(',');
      const got = await parts(await get(`${pathOf(c.name)}/frames/${list}`, { accept: c.accept }));
      expect(got.type, c.accept).toContain(`type="${c.type}"`);
      expect(got.parts).toHaveLength(expected.length);
      got.parts.forEach((p, i) => {
        expect(p.headers['content-type'], c.accept).toBe(`${c.type}; transfer-syntax=${c.ts}`);
        expect(p.body.equals(expected[i]!), `${c.name} frame ${i + 1}`).toBe(true);
      });
    }
    expect(dcmjsFrames(seeded.rle!.sealed.plaintext)).toHaveLength(2);
  });

  it('refuses (406) what it would have to transcode, naming what it has', async () => {
    const native = await t.request('GET', `${pathOf('ct')}/frames/1`, {
      token: a.reader.token,
      headers: { accept: 'multipart/related; type="image/jpeg"' },
    });
    expectError(native, 406, 'request.not_acceptable');
    expect(native.text).toContain('application/octet-stream');
    const compressed = await t.request('GET', `${pathOf('jls')}/frames/1`, {
      token: a.reader.token,
      headers: { accept: 'multipart/related; type="application/octet-stream"' },
    });
    expectError(compressed, 406, 'request.not_acceptable');
    expect(compressed.text).toContain('image/jls');
  });

  it('refuses bad frame lists (400), frames out of range and instances without pixels (404)', async () => {
    for (const list of ['0', 'a', '1,,2', '-1', '1.5', '1;2']) {
      expectError(
        await t.request('GET', `${pathOf('rtdose')}/frames/${list}`, { token: a.reader.token }),
        400,
        'dicomweb.bad_frame_list',
      );
    }
    expectError(
      await t.request('GET', `${pathOf('rtdose')}/frames/1,16`, { token: a.reader.token }),
      404,
      'dicomweb.frame_not_found',
    );
    expectError(
      await t.request('GET', `${pathOf('ecg')}/frames/1`, { token: a.reader.token }),
      404,
      'dicomweb.no_pixel_data',
    );
    expectError(
      await t.request(
        'GET',
        `/dicomweb/studies/${studyUid}/series/${seriesUid}/instances/${newTestUid()}/frames/1`,
        {
          token: a.reader.token,
        },
      ),
      404,
      'resource.not_found',
    );
  });

  it('gives every bulk value a BulkDataURI in /metadata, sequences included, that serves it', async () => {
    const meta = async (name: string) => {
      const res = await t.request<Dataset[]>('GET', `${pathOf(name)}/metadata`, { token: a.reader.token });
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      return res.body[0]!;
    };
    const base = `${TEST_PUBLIC_URL}${pathOf('ct')}/bulkdata`;
    const ct = await meta('ct');
    expect(ct['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: `${base}/7FE00010` });
    expect(ct['00431029']).toEqual({ vr: 'OB', BulkDataURI: `${base}/00431029` });
    expect(ct['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'CompressedSamples^CT1' }] });
    const bulk = async (uri: string, accept?: string) => {
      const got = await parts(await get(uri.slice(TEST_PUBLIC_URL.length), accept ? { accept } : {}));
      expect(got.type).toMatch(/^multipart\/related; type="application\/octet-stream"; boundary=/);
      return got.parts;
    };
    const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(seeded.ct!.sealed.plaintext));
    const pixel = await bulk(
      ct['7FE00010']!.BulkDataURI!,
      'multipart/related; type="application/octet-stream"',
    );
    expect(pixel).toHaveLength(1);
    expect(pixel[0]!.body.equals(dcmjsFrames(seeded.ct!.sealed.plaintext)[0]!)).toBe(true);
    const priv = await bulk(ct['00431029']!.BulkDataURI!);
    expect(priv[0]!.body.equals(Buffer.from((file.dict['00431029']!.Value as ArrayBuffer[])[0]!))).toBe(true);
    // Asked for the bare value, the bare value.
    const bare = await get(ct['00431029']!.BulkDataURI!.slice(TEST_PUBLIC_URL.length), {
      accept: 'application/octet-stream',
    });
    expect(bare.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await bare.arrayBuffer()).equals(priv[0]!.body)).toBe(true);

    // Inside a sequence: the ECG's Waveform Data.
    const ecg = await meta('ecg');
    const item = ecg['54000100']!.Value![0] as Dataset;
    expect(item['54001010']!.BulkDataURI).toBe(
      `${TEST_PUBLIC_URL}${pathOf('ecg')}/bulkdata/54000100/0/54001010`,
    );
    const waveform = await bulk(item['54001010']!.BulkDataURI!);
    expect(waveform[0]!.body.length).toBeGreaterThan(1024);
    expect(ecg['7FE00010']).toBeUndefined();

    // Encapsulated Pixel Data: a part per frame.
    const rle = await bulk((await meta('rle'))['7FE00010']!.BulkDataURI!);
    expect(rle.map((p) => p.body)).toEqual(dcmjsFrames(seeded.rle!.sealed.plaintext));
    expect(rle[0]!.headers['content-type']).toBe(
      'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.5',
    );

    expectError(
      await t.request('GET', `${pathOf('ct')}/bulkdata/00431028`, { token: a.reader.token }),
      404,
      'dicomweb.bulkdata_not_found',
    );
  });

  it("synthesizes Pixel Data's BulkDataURI for headers stored before ingest kept placeholders", async () => {
    const row = seeded.rtdose!;
    const [stored] = await t.database.db
      .select({ metadata: instances.metadata })
      .from(instances)
      .where(eq(instances.objectId, row.sealed.objectId));
    const old = { ...(stored!.metadata as Dataset) };
    delete old['7FE00010'];
    await t.database.db
      .update(instances)
      .set({ metadata: old })
      .where(eq(instances.objectId, row.sealed.objectId));
    const res = await t.request<Dataset[]>('GET', `${pathOf('rtdose')}/metadata`, { token: a.reader.token });
    expect(res.body[0]!['7FE00010']).toEqual({
      vr: 'OW',
      BulkDataURI: `${TEST_PUBLIC_URL}${pathOf('rtdose')}/bulkdata/7FE00010`,
    });
  });

  it('audits frames and bulk data as dicomweb.retrieve of the study', async () => {
    const rowsOf = (requestId: string) =>
      t.database.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    const frames = `frames-${randomUUID()}`;
    await (await get(`${pathOf('rtdose')}/frames/1,2`, { requestId: frames })).arrayBuffer();
    expect(await rowsOf(frames)).toMatchObject([
      {
        action: 'dicomweb.retrieve',
        actorId: a.reader.id,
        groupId: a.groupId,
        targetId: seeded.rtdose!.studyId,
        details: { studyInstanceUid: studyUid, what: 'frames', instances: 1, frames: 2 },
      },
    ]);
    const bulk = `bulk-${randomUUID()}`;
    await (await get(`${pathOf('ct')}/bulkdata/00431029`, { requestId: bulk })).arrayBuffer();
    expect(await rowsOf(bulk)).toMatchObject([
      { action: 'dicomweb.retrieve', details: { what: 'bulkdata', path: '00431029' } },
    ]);
    const refused = `refused-${randomUUID()}`;
    await (await get(`${pathOf('rtdose')}/frames/99`, { requestId: refused })).arrayBuffer();
    expect(await rowsOf(refused)).toEqual([]);
  });

  it('serves dicomweb-client (what OHIF uses) frames and bulk data over a real socket', async () => {
    (globalThis as Record<string, unknown>).XMLHttpRequest ??= createRequire(import.meta.url)('xhr2');
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new DicomwebClientClass({
        url: `${origin}/dicomweb`,
        headers: { Authorization: `Bearer ${a.reader.token}` },
        verbose: false,
      });
      const ref = (name: string) => {
        const m = seeded[name]!.sealed.manifest;
        return {
          studyInstanceUID: m.study.instanceUid!,
          seriesInstanceUID: m.series.instanceUid!,
          sopInstanceUID: m.sopInstanceUid,
        };
      };
      const bytes = (parts: ArrayBuffer[]) => parts.map((p) => Buffer.from(p));
      const rtdose = dcmjsFrames(seeded.rtdose!.sealed.plaintext, 400);
      // Its default Accept: octet-stream without a transfer syntax (native, little endian).
      expect(bytes(await client.retrieveInstanceFrames({ ...ref('rtdose'), frameNumbers: '2,5' }))).toEqual([
        rtdose[1],
        rtdose[4],
      ]);
      const jls = await client.retrieveInstanceFrames({
        ...ref('jls'),
        frameNumbers: '1',
        mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }],
      });
      expect(bytes(jls)).toEqual(dcmjsFrames(seeded.jls!.sealed.plaintext));
      const [meta] = (await client.retrieveInstanceMetadata(ref('ct'))) as Dataset[];
      const uri = meta!['7FE00010']!.BulkDataURI!.replace(TEST_PUBLIC_URL, origin);
      expect(bytes(await client.retrieveBulkData({ BulkDataURI: uri }))).toEqual(
        dcmjsFrames(seeded.ct!.sealed.plaintext),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("finds nothing of another group's instance (404), and reads frame 50 of 100 without the whole object", async () => {
    expectError(
      await t.request('GET', `${pathOf('rtdose')}/frames/1`, { token: b.reader.token }),
      404,
      'resource.not_found',
    );
    expectError(
      await t.request('GET', `${pathOf('ct')}/bulkdata/7FE00010`, { token: b.reader.token }),
      404,
      'resource.not_found',
    );

    const hundred = seeded.hundred!;
    const expected = dcmjsFrames(hundred.sealed.plaintext, MULTI_FRAME_BYTES);
    const first = await parts(await get(`${pathOf('hundred')}/frames/1`, { accept: CORNERSTONE }));
    expect(first.parts[0]!.body.equals(expected[0]!)).toBe(true);
    const real = t.deps.blobStore;
    let read = 0;
    const counting: BlobStore = Object.create(real, {
      get: {
        value: async (key: string, range?: { start: number; end: number }) => {
          const stream = await real.get(key, range);
          stream.on('data', (chunk: Buffer) => {
            read += chunk.length;
          });
          return stream;
        },
      },
    });
    t.deps.blobStore = counting;
    try {
      const fifty = await parts(await get(`${pathOf('hundred')}/frames/50`, { accept: CORNERSTONE }));
      expect(fifty.parts[0]!.body.equals(expected[49]!)).toBe(true);
    } finally {
      t.deps.blobStore = real;
    }
    expect(read).toBeGreaterThanOrEqual(MULTI_FRAME_BYTES);
    expect(read).toBeLessThan(hundred.sealed.objectBytes / 20);
  });
});

describe.each(BACKENDS)('WADO-RS frames and bulk data security (%s)', (backend) => {
  runDicomwebReadSecurity(backend, [
    { name: 'WADO frames', path: (ids) => `${instancePath(ids)}/frames/1` },
    { name: 'WADO bulk data', path: (ids) => `${instancePath(ids)}/bulkdata/7FE00010` },
  ]);
});
