/**
 * Image objects (issue 19) through the upload routes, on every store: real CT, MR and CR slices and
 * corpus samples sealed with their native pixels as JPEG-LS bands (testkit image-object.ts), single
 * PUTs and packs alike. The index records how each travelled (instances.transport_coding), and every
 * read path serves what the same file sealed plainly serves: the Part-10 bytes as sent, frames (at
 * random through the frame index), bulk data, metadata, rendered frames and the study zip. A hostile
 * image object is refused at complete without harm to the objects sent with it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type {
  CodedFrame,
  TransportCoding,
  UploadCompleteResponse,
  UploadCompleteResult,
  UploadOfferResponse,
  UploadOfferResult,
} from '@ferry/shared';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realDataDir } from '../../../test/harness/real-data.js';
import {
  createTestApp,
  enrollTestGateway,
  getRaw,
  type SeededGroup,
  STORE_COMBOS,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { imageCodedFrames, pixelPlanOf } from '../../../testkit/control-plane/image-object.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import {
  newTestUid,
  readSample,
  type SealedTestObject,
  type SealTestObjectOptions,
  sealTestObject,
} from '../../../testkit/control-plane/seal-object.js';
import { readZip } from '../../../testkit/control-plane/zip-reader.js';
import { instances } from '../db/schema/index.js';
import { arrayBufferOf, dcmjs } from '../dicom/dcmjs.js';

const OFFER = '/api/v1/agents/uploads';
const COMPLETE = '/api/v1/agents/uploads/complete';
const AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*';
const FRAMES_AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

type Upload = Extract<UploadOfferResult, { status: 'upload' }>;
type Element = { vr: string; Value?: unknown[]; BulkDataURI?: string };
type Dataset = Record<string, Element>;

/** Real files: implicit and explicit little endian, big endian, signed and not, MONOCHROME1, a 4-band mosaic. */
const REAL = [
  'ct-dicompyler-breast/dicompyler-ct.0.dcm',
  'ct-ge-discovery-bigendian/ser002img00001-16-signed.dcm',
  'ct-ge-hispeed-400x512/ct-decoded-from-jpeg-lossless.dcm',
  'cr-fuji-chest/gdcm-CR-MONO1-10-chest.dcm',
  'mr-siemens-prisma-dwi-mosaic/b0dwi_for_fmap+00001.dcm',
  'mr-ge-signa-brain-pd/brain_002.dcm',
];
/** Corpus samples: pixels the codec takes (RGB, big endian, odd sizes) and ones it must leave to zstd. */
const SAMPLES = [
  'CT_small.dcm',
  'MR_small_bigendian.dcm',
  'ExplVR_BigEnd.dcm',
  'SC_rgb_jpeg_dcmd.dcm',
  'SC_rgb_small_odd.dcm',
  'SC_ybr_full_422_uncompressed.dcm',
  'JPEG2000.dcm',
  'rtdose.dcm',
  'image_dfl.dcm',
  'waveform_ecg.dcm',
];

/** Three real MR slices as one native multi-frame instance: frames read at random from JPEG-LS bands. */
async function realMultiFrame(): Promise<Buffer> {
  const slices = await Promise.all(
    ['brain_003', 'brain_004', 'brain_005'].map((n) =>
      readFile(`${realDataDir}/mr-ge-signa-brain-pd/${n}.dcm`),
    ),
  );
  const pixelsOf = (b: Buffer) =>
    Buffer.from(
      (dcmjs.data.DicomMessage.readFile(arrayBufferOf(b)).dict['7FE00010']!.Value as ArrayBuffer[])[0]!,
    );
  const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(slices[0]!));
  const sop = newTestUid();
  file.dict['00080018'] = { vr: 'UI', Value: [sop] };
  file.meta['00020003'] = { vr: 'UI', Value: [sop] };
  file.dict['00280008'] = { vr: 'IS', Value: [slices.length] };
  file.dict['7FE00010'] = { vr: 'OW', Value: [arrayBufferOf(Buffer.concat(slices.map(pixelsOf)))] };
  return Buffer.from(file.write());
}

interface Case {
  name: string;
  part10: Buffer;
  /** JPEG-LS bands the codec made of it (0: none of its pixels go as JPEG-LS). */
  jpeglsFrames: number;
  jpeglsBytes: number;
}

async function caseOf(name: string, part10: Buffer): Promise<Case> {
  const coded = await imageCodedFrames(part10);
  const jpegls = coded.filter((c) => c.codec === 'jpegls');
  return {
    name,
    part10,
    jpeglsFrames: jpegls.length,
    jpeglsBytes: jpegls.reduce((n, c) => n + c.rawBytes, 0),
  };
}

describe.each(STORE_COMBOS)('image objects (%s, %s blobs)', (backend, blobs) => {
  let t: TestApp;
  /** Gets the image objects. */
  let g: SeededGroup;
  let gw: TestGateway;
  /** Gets the same files sealed plainly: what every read path must match. */
  let ref: SeededGroup;
  let refGw: TestGateway;
  const cases: Case[] = [];
  const image = new Map<string, SealedTestObject>();
  const plain = new Map<string, SealedTestObject>();

  const seal = (opts: Omit<SealTestObjectOptions, 'recipientPublicKey'>) =>
    sealTestObject({ ...opts, recipientPublicKey: t.deps.recipientPublicKey });

  /** PUTs to the app itself (fs URLs, packs) or to the S3 server (presigned URLs). */
  async function put(url: string, body: Buffer): Promise<number> {
    const init = { method: 'PUT', body, headers: { 'content-length': String(body.length) } };
    const res = url.startsWith(TEST_PUBLIC_URL) ? await t.app.request(url, init) : await fetch(url, init);
    await res.arrayBuffer();
    return res.status;
  }

  /** Offers (packs accepted), sends and completes the objects in one request: the answers in order. */
  async function ship(
    objs: SealedTestObject[],
    as: TestGateway,
    acceptPacks: boolean,
  ): Promise<UploadCompleteResult[]> {
    const offered = await t.request<UploadOfferResponse>('POST', OFFER, {
      token: await as.token(),
      body: { objects: objs.map((o) => o.offer), acceptPacks },
    });
    expect(offered.status, offered.text).toBe(200);
    const byId = new Map(objs.map((o) => [o.objectId, o]));
    const uploadIds = new Map<string, string>();
    for (const pack of offered.body.packs ?? []) {
      const body = Buffer.concat(pack.members.map((m) => byId.get(m.objectId)!.bytes));
      expect(await put(pack.url, body)).toBe(200);
      for (const m of pack.members) uploadIds.set(m.objectId, m.uploadId);
    }
    for (const r of offered.body.objects) {
      if (r.status !== 'upload') continue;
      const u = r as Upload;
      const bytes = byId.get(u.objectId)!.bytes;
      for (const p of u.parts)
        expect(await put(p.url!, bytes.subarray(p.offset, p.offset + p.length))).toBe(200);
      uploadIds.set(u.objectId, u.uploadId);
    }
    const res = await t.request<UploadCompleteResponse>('POST', COMPLETE, {
      token: await as.token(),
      body: {
        objects: objs.map((o) => ({
          objectId: o.objectId,
          uploadId: uploadIds.get(o.objectId)!,
          objectSha256: o.objectSha256,
        })),
      },
    });
    expect(res.status, res.text).toBe(200);
    return res.body.objects;
  }

  beforeAll(async () => {
    t = await createTestApp(backend, { blobs });
    g = await t.seedGroup('Image objects');
    gw = await enrollTestGateway(t, {
      groupId: g.groupId,
      facilityId: (await seedFacility(t, g)).facilityId,
    });
    ref = await t.seedGroup('Plain objects');
    refGw = await enrollTestGateway(t, {
      groupId: ref.groupId,
      facilityId: (await seedFacility(t, ref)).facilityId,
    });
    for (const f of REAL) cases.push(await caseOf(f, await readFile(`${realDataDir}/${f}`)));
    for (const s of SAMPLES) cases.push(await caseOf(s, await readSample(s)));
    cases.push(await caseOf('real MR multi-frame', await realMultiFrame()));
    for (const c of cases) {
      image.set(c.name, await seal({ part10: c.part10, coding: 'image' }));
      plain.set(c.name, await seal({ part10: c.part10 }));
    }
    // Half as single PUTs (checked as the fs store writes them, or read back from S3), half in packs.
    const images = [...image.values()];
    const half = Math.floor(images.length / 2);
    for (const [objs, packs] of [
      [images.slice(0, half), false],
      [images.slice(half), true],
    ] as const) {
      expect((await ship(objs, gw, packs)).map((r) => r.status)).toEqual(objs.map(() => 'stored'));
    }
    const plains = [...plain.values()];
    expect((await ship(plains, refGw, true)).map((r) => r.status)).toEqual(plains.map(() => 'stored'));
  });
  afterAll(async () => {
    await t?.close();
  });

  const pathOf = (o: SealedTestObject) =>
    `/dicomweb/studies/${o.manifest.study.instanceUid}/series/${o.manifest.series.instanceUid}/instances/${o.manifest.sopInstanceUid}`;

  /** GETs `path` as a reader of the group that holds `o`: status, content type and body. */
  async function read(o: SealedTestObject, path: string, accept?: string) {
    const token = image.get(nameOf(o)) === o ? g.reader.token : ref.reader.token;
    const res = await getRaw(t, path, { token, ...(accept ? { headers: { accept } } : {}) });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: Buffer.from(await res.arrayBuffer()),
    };
  }
  const nameOf = (o: SealedTestObject) =>
    cases.find((c) => image.get(c.name) === o || plain.get(c.name) === o)!.name;

  /** Multipart parts' bodies (a multipart answer), or the body itself. */
  const bodies = (r: { type: string; body: Buffer }) =>
    r.type.startsWith('multipart/') ? readMultipart(r.body, r.type).map((p) => p.body) : [r.body];

  /** The same request for the image object and for its plain twin: the same answer. */
  async function same(name: string, suffix: string, accept?: string) {
    const a = await read(image.get(name)!, `${pathOf(image.get(name)!)}${suffix}`, accept);
    const b = await read(plain.get(name)!, `${pathOf(plain.get(name)!)}${suffix}`, accept);
    expect(a.status, `${name} ${suffix}`).toBe(b.status);
    expect(a.type.replace(/boundary=.*$/, ''), `${name} ${suffix}`).toBe(b.type.replace(/boundary=.*$/, ''));
    const [x, y] = [bodies(a), bodies(b)];
    expect(x.length, `${name} ${suffix}`).toBe(y.length);
    for (const [i, p] of x.entries()) expect(p.equals(y[i]!), `${name} ${suffix} part ${i}`).toBe(true);
    return { status: a.status, parts: x };
  }

  it('records how each instance travelled, and the image codec made CT and MR far smaller', async () => {
    const rows = await t.database.db
      .select({
        objectId: instances.objectId,
        transport: instances.transportCoding,
        objectBytes: instances.objectBytes,
      })
      .from(instances)
      .where(inArray(instances.groupId, [g.groupId, ref.groupId]));
    const byObject = new Map(rows.map((r) => [r.objectId, r]));
    for (const c of cases) {
      const img = byObject.get(image.get(c.name)!.objectId)!;
      expect(img.transport, c.name).toMatchObject({
        compression: 'image',
        jpeglsFrames: c.jpeglsFrames,
        jpeglsBytes: c.jpeglsBytes,
      } satisfies Partial<TransportCoding>);
      expect(img.transport!.rawFrames + img.transport!.zstdFrames, c.name).toBeGreaterThan(0);
      const plan = await pixelPlanOf(c.part10);
      // Every real image's pixels went as JPEG-LS, band for band.
      if (REAL.includes(c.name)) expect(c.jpeglsFrames, c.name).toBe(plan!.bands.length);
      if (!plan) expect(c.jpeglsFrames, c.name).toBe(0);
      const ref = byObject.get(plain.get(c.name)!.objectId)!;
      expect(ref.transport, c.name).toEqual({
        compression: 'none',
        rawFrames: Math.ceil(c.part10.length / (1 << 20)),
        zstdFrames: 0,
        jpeglsFrames: 0,
        jpeglsBytes: 0,
      });
      if (/^(ct|mr)-/.test(c.name)) expect(ref.objectBytes / img.objectBytes, c.name).toBeGreaterThan(1.5);
    }
    // The real images, the multi-frame, CT_small, MR_small_bigendian and the RGB image; not the 8-bit
    // big endian one (OW swaps its samples in pairs), the 27-byte RGB one (JPEG-LS is no smaller) nor
    // those whose pixels are not rows of samples.
    expect(cases.filter((c) => c.jpeglsFrames > 0).map((c) => c.name)).toEqual([
      ...REAL,
      'CT_small.dcm',
      'MR_small_bigendian.dcm',
      'SC_rgb_jpeg_dcmd.dcm',
      'real MR multi-frame',
    ]);
  });

  it('serves every instance byte for byte as sent (transfer-syntax=*), and as its plain twin by default', async () => {
    for (const c of cases) {
      const o = image.get(c.name)!;
      const asSent = await read(o, pathOf(o), AS_STORED);
      expect(asSent.status, c.name).toBe(200);
      expect(bodies(asSent)[0]!.equals(c.part10), c.name).toBe(true);
      await same(c.name, '', 'multipart/related; type="application/dicom"');
    }
  });

  it('serves metadata, every frame (at random) and every bulk value as the plain twin does', async () => {
    for (const c of cases) {
      const meta = await same(c.name, '/metadata');
      if (meta.status !== 200) continue;
      const d = (JSON.parse(meta.parts[0]!.toString('utf8')) as Dataset[])[0]!;
      const frames = Number(d['00280008']?.Value?.[0] ?? (d['7FE00010'] ? 1 : 0));
      // Last first, then the first: no frame is read by walking from the start.
      const order = frames > 1 ? [frames, 1, ...Array.from({ length: frames - 2 }, (_, i) => i + 2)] : [];
      if (frames === 1) order.push(1);
      for (const f of order) {
        const got = await same(c.name, `/frames/${f}`, FRAMES_AS_STORED);
        expect(got.status, `${c.name} frame ${f}`).toBe(200);
      }
      for (const el of Object.values(d)) {
        if (!el.BulkDataURI) continue;
        const suffix = el.BulkDataURI.slice(`${TEST_PUBLIC_URL}${pathOf(plain.get(c.name)!)}`.length);
        expect((await same(c.name, suffix)).status, `${c.name} ${suffix}`).toBe(200);
      }
    }
    // The multi-frame's frames are the three slices' pixels, read from the middle of the object.
    const mf = cases.find((c) => c.name === 'real MR multi-frame')!;
    const f2 = bodies(
      await read(image.get(mf.name)!, `${pathOf(image.get(mf.name)!)}/frames/2`, FRAMES_AS_STORED),
    );
    const slice = await readFile(`${realDataDir}/mr-ge-signa-brain-pd/brain_004.dcm`);
    expect(f2[0]!.equals(slice.subarray(slice.length - 256 * 256 * 2))).toBe(true);
  });

  it('renders frames as it renders the plain twin', async () => {
    for (const c of cases.filter((x) => x.jpeglsFrames > 0)) {
      const got = await same(c.name, '/frames/1/rendered', 'image/png');
      expect(got.status, c.name).toBe(200);
    }
  });

  it("zips each study with every instance's bytes as sent", async () => {
    const studiesOf = new Map<string, Case[]>();
    for (const c of cases) {
      const uid = image.get(c.name)!.manifest.study.instanceUid!;
      studiesOf.set(uid, [...(studiesOf.get(uid) ?? []), c]);
    }
    for (const [uid, members] of studiesOf) {
      const zip = await getRaw(t, `/api/v1/studies/${uid}/download`, { token: g.reader.token });
      expect(zip.status, uid).toBe(200);
      const { entries } = readZip(Buffer.from(await zip.arrayBuffer()));
      expect(entries.map((e) => sha256(e.bytes)).sort()).toEqual(members.map((m) => sha256(m.part10)).sort());
    }
  });

  describe('a hostile image object', () => {
    /** A CT slice whose first JPEG-LS frame is replaced by `evil`; sent with two good objects. */
    async function refusedAmongGood(evil: (jls: CodedFrame) => CodedFrame, packed: boolean) {
      const study = newTestUid();
      const set = () => ({ studyInstanceUid: study, seriesInstanceUid: study, sopInstanceUid: newTestUid() });
      const bad = await seal({
        part10: await readFile(`${realDataDir}/${REAL[0]}`),
        set: set(),
        coding: 'image',
        recode: (frames) => frames.map((f) => (f.codec === 'jpegls' ? evil(f) : f)),
      });
      const good = await Promise.all(
        [0, 1].map(() => seal({ sample: 'CT_small.dcm', coding: 'image', set: set() })),
      );
      const results = await ship([good[0]!, bad, good[1]!], gw, packed);
      expect(results.map((r) => r.status)).toEqual(['stored', 'refused', 'stored']);
      expect(results[1]).toMatchObject({ code: 'upload.object_invalid' });
      const rows = await t.database.db
        .select({ objectId: instances.objectId })
        .from(instances)
        .where(
          and(
            eq(instances.groupId, g.groupId),
            inArray(instances.objectId, [bad.objectId, ...good.map((o) => o.objectId)]),
          ),
        );
      expect(rows.map((r) => r.objectId).sort()).toEqual(good.map((o) => o.objectId).sort());
      for (const o of good) {
        const got = await getRaw(t, pathOf(o), { token: g.reader.token, headers: { accept: AS_STORED } });
        const type = got.headers.get('content-type') ?? '';
        expect(readMultipart(Buffer.from(await got.arrayBuffer()), type)[0]!.body.equals(o.plaintext)).toBe(
          true,
        );
      }
      return results[1]!.status === 'refused' ? results[1]!.message : '';
    }

    const payload = (f: CodedFrame) => Buffer.concat(f.parts.slice(1));

    it.each([false, true])('with an unknown codec byte is refused alone (packed: %s)', async (packed) => {
      const message = await refusedAmongGood(
        (f) => ({ ...f, parts: [Buffer.from([7]), payload(f)] }),
        packed,
      );
      expect(message).toMatch(/unknown codec/);
    });

    it('whose JPEG-LS header claims more than 1 MiB is refused before anything is decoded (single PUT)', async () => {
      const message = await refusedAmongGood((f) => {
        const p = Buffer.from(payload(f));
        p.writeUInt32BE(4096, 6);
        p.writeUInt32BE(4096, 10);
        return { ...f, parts: [f.parts[0]!, p] };
      }, false);
      expect(message).toMatch(/more than one frame/);
    });

    it('whose JPEG-LS stream does not match its own header (SOF) is refused (packed)', async () => {
      const message = await refusedAmongGood((f) => {
        const p = Buffer.from(payload(f));
        p.writeUInt32BE(p.readUInt32BE(10) - 1, 10);
        return { ...f, parts: [f.parts[0]!, p] };
      }, true);
      expect(message).toMatch(/does not match/);
    });
  });
});
