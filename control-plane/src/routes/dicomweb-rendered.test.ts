import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  instancePath,
  runDicomwebReadSecurity,
  seriesPath,
  studyPath,
} from '../../../testkit/control-plane/dicomweb-security.js';
import { BACKENDS, createTestApp, getRaw, type TestApp } from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import { frameToRender, sampleFrames } from '../../../testkit/control-plane/sample-frames.js';
import { newTestUid } from '../../../testkit/control-plane/seal-object.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import {
  type StoredTestInstance,
  seedStoredInstance,
  withTamperedBlob,
} from '../../../testkit/control-plane/seed-stored-study.js';
import { seedWorklist, type Worklist } from '../../../testkit/control-plane/study-fixtures.js';
import { auditLog } from '../db/schema/index.js';
import { renderFrame } from '../dicom/render-frame.js';

/**
 * A study of group A whose series sort by UID (their numbers are all 1): `sr` (a structured report, no
 * pixels), `images` (MR_small, CT_small, MR_small JPEG-LS as instances 1-3), `twoFrames` (an RGB RLE
 * image whose second frame is the first inverted), `broken` (a JPEG 2000 frame with a damaged header)
 * and `native` (native syntaxes the frame index must turn into little-endian frames).
 */
interface ReadingStudy {
  studyUid: string;
  sr: { seriesUid: string; sop: string };
  images: { seriesUid: string; sops: string[] };
  twoFrames: { seriesUid: string; sop: string; instance: StoredTestInstance };
  broken: { seriesUid: string; sop: string };
  /** Native instances as stored: 15 frames of 32-bit doses, big endian. */
  native: { seriesUid: string; multiFrame: string; bigEndian: string };
}

async function seedReadingStudy(t: TestApp, w: Worklist): Promise<ReadingStudy> {
  const where = { groupId: w.a.groupId, facilityId: w.facilities.a1.facilityId };
  const studyUid = newTestUid();
  const base = newTestUid().slice(0, 50);
  const seed = async (sample: string, seriesUid: string, instanceNumber: number) => {
    const sop = newTestUid();
    const instance = await seedStoredInstance(t, where, {
      sample,
      set: {
        studyInstanceUid: studyUid,
        seriesInstanceUid: seriesUid,
        sopInstanceUid: sop,
        instanceNumber,
        patientName: 'READER^ROOM',
        patientId: 'PID-RR',
      },
    });
    return { sop, instance };
  };
  const sr = { seriesUid: `${base}.1`, sop: (await seed('test-SR.dcm', `${base}.1`, 1)).sop };
  const images = { seriesUid: `${base}.2`, sops: [] as string[] };
  for (const [n, sample] of ['MR_small.dcm', 'CT_small.dcm', 'MR_small_jpeg_ls_lossless.dcm'].entries()) {
    images.sops.push((await seed(sample, images.seriesUid, n + 1)).sop);
  }
  const two = await seed('SC_rgb_rle_2frame.dcm', `${base}.3`, 1);
  const broken = await seed('JPEG2000-embedded-sequence-delimiter.dcm', `${base}.4`, 1);
  const native = {
    seriesUid: `${base}.5`,
    multiFrame: (await seed('rtdose.dcm', `${base}.5`, 1)).sop,
    bigEndian: (await seed('MR_small_bigendian.dcm', `${base}.5`, 2)).sop,
  };
  return {
    native,
    studyUid,
    sr,
    images,
    twoFrames: { seriesUid: `${base}.3`, sop: two.sop, instance: two.instance },
    broken: { seriesUid: `${base}.4`, sop: broken.sop },
  };
}

describe.each(BACKENDS)('WADO-RS rendered and thumbnails (%s)', (backend) => {
  let t: TestApp;
  let w: Worklist;
  let s: ReadingStudy;

  beforeAll(async () => {
    t = await createTestApp(backend);
    w = await seedWorklist(t);
    s = await seedReadingStudy(t, w);
  });
  afterAll(async () => {
    await t?.close();
  });

  const study = () => `/dicomweb/studies/${s.studyUid}`;
  const series = (uid: string) => `${study()}/series/${uid}`;
  const instance = (seriesUid: string, sop: string) => `${series(seriesUid)}/instances/${sop}`;
  const image = (n: number) => instance(s.images.seriesUid, s.images.sops[n]!);

  async function get(path: string, opts: { accept?: string; token?: string; requestId?: string } = {}) {
    const headers: Record<string, string> = {};
    if (opts.accept !== undefined) headers.accept = opts.accept;
    if (opts.requestId) headers['x-request-id'] = opts.requestId;
    const res = await getRaw(t, path, { token: opts.token ?? w.a.reader.token, headers });
    const body = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      headers: res.headers,
      body,
      text: () => body.toString('utf8').slice(0, 500),
    };
  }
  async function getImage(path: string, opts: { accept?: string; requestId?: string; token?: string } = {}) {
    const res = await get(path, opts);
    expect(res.status, `${path}: ${res.text()}`).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const meta = await sharp(res.body).metadata();
    const stats = await sharp(res.body).stats();
    expect(Math.max(...stats.channels.map((c) => c.stdev)), `${path} is blank`).toBeGreaterThan(0);
    return { ...res, meta };
  }
  const error = async (path: string, status: number, code: string, accept?: string) => {
    const res = await t.request('GET', path, {
      token: w.a.reader.token,
      ...(accept !== undefined ? { headers: { accept } } : {}),
    });
    return expectError(res, status, code).error.message;
  };

  it('renders an instance as a JPEG of its own size by default, as PNG when asked', async () => {
    const jpeg = await getImage(`${image(0)}/rendered`);
    expect(jpeg.headers.get('content-type')).toBe('image/jpeg');
    expect([jpeg.meta.format, jpeg.meta.width, jpeg.meta.height]).toEqual(['jpeg', 64, 64]);
    for (const accept of [
      'image/png',
      'image/jpeg;q=0.5, image/png',
      'multipart/related; type="image/png"',
    ]) {
      const png = await getImage(`${image(0)}/rendered`, { accept });
      expect(png.headers.get('content-type'), accept).toBe('image/png');
      expect(png.meta.format).toBe('png');
    }
    const byQuery = await getImage(`${image(0)}/rendered?accept=image/png`, { accept: 'image/jpeg' });
    expect(byQuery.meta.format).toBe('png');
    for (const accept of ['*/*', 'image/*', '']) {
      expect((await getImage(`${image(0)}/rendered`, { accept })).meta.format, accept).toBe('jpeg');
    }
    for (const accept of ['application/dicom', 'image/gif', 'multipart/related; type="application/dicom"']) {
      expect(await error(`${image(0)}/rendered`, 406, 'request.not_acceptable', accept)).toContain(
        'image/jpeg',
      );
    }
  });

  it('renders a JPEG-LS instance as its native twin, and frame n of a multi-frame instance', async () => {
    const png = async (path: string) =>
      (
        await sharp((await getImage(path, { accept: 'image/png' })).body)
          .raw()
          .toBuffer()
      ).toString('hex');
    expect(await png(`${image(2)}/rendered`)).toBe(await png(`${image(0)}/rendered`));
    const two = instance(s.twoFrames.seriesUid, s.twoFrames.sop);
    const first = await getImage(`${two}/frames/1/rendered`, { accept: 'image/png' });
    const second = await getImage(`${two}/frames/2/rendered`, { accept: 'image/png' });
    const a = await sharp(first.body).raw().toBuffer();
    const b = await sharp(second.body).raw().toBuffer();
    expect([...a.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...b.subarray(0, 3)]).toEqual([0, 255, 255]);
    // The instance's rendered resource is its first frame.
    expect((await getImage(`${two}/rendered`, { accept: 'image/png' })).body.equals(first.body)).toBe(true);
    expect(await error(`${two}/frames/3/rendered`, 404, 'dicomweb.frame_not_found')).toContain('3');
    for (const list of ['1,2', '0', 'x']) {
      await error(`${two}/frames/${list}/rendered`, 400, 'dicomweb.bad_frame_list');
    }
  });

  it('renders native frames as the corpus file holds them: multi-frame, big endian', async () => {
    const raw = async (path: string) =>
      sharp((await getImage(path, { accept: 'image/png' })).body)
        .raw()
        .toBuffer();
    const expected = async (sample: string, n: number) => {
      const f = await sampleFrames(sample);
      const png = await renderFrame(frameToRender(f, n), { format: 'png' });
      return sharp(png).raw().toBuffer();
    };
    const dose = instance(s.native.seriesUid, s.native.multiFrame);
    for (const n of [1, 8, 15]) {
      expect(
        (await raw(`${dose}/frames/${n}/rendered`)).equals(await expected('rtdose.dcm', n)),
        `frame ${n}`,
      ).toBe(true);
    }
    expect(await raw(`${dose}/frames/8/rendered`)).not.toEqual(await raw(`${dose}/frames/1/rendered`));
    await error(`${dose}/frames/16/rendered`, 404, 'dicomweb.frame_not_found');
    expect(
      (await raw(`${instance(s.native.seriesUid, s.native.bigEndian)}/rendered`)).equals(
        await raw(`${image(0)}/rendered`),
      ),
    ).toBe(true);
  });

  it('applies window, viewport and quality, and refuses malformed ones', async () => {
    const own = await getImage(`${image(0)}/rendered`, { accept: 'image/png' });
    const same = await getImage(`${image(0)}/rendered?window=600,1600,linear`, { accept: 'image/png' });
    expect(same.body.equals(own.body)).toBe(true);
    const narrow = await getImage(`${image(0)}/rendered?window=600,200`, { accept: 'image/png' });
    expect(narrow.body.equals(own.body)).toBe(false);
    const small = await getImage(`${image(1)}/rendered?viewport=32,64`);
    expect([small.meta.width, small.meta.height]).toEqual([32, 32]);
    const crop = await getImage(`${image(1)}/rendered?viewport=64,64,0,0,64,32`);
    expect([crop.meta.width, crop.meta.height]).toEqual([64, 32]);
    const low = await getImage(`${image(1)}/rendered?quality=5`);
    const high = await getImage(`${image(1)}/rendered?quality=100`);
    expect(low.body.length).toBeLessThan(high.body.length / 2);
    for (const q of [
      'window=600',
      'window=a,b',
      'window=600,0',
      'window=1,2,cubic',
      'viewport=0,10',
      'viewport=10',
      'viewport=99999,10',
      'viewport=10,10,-1,0,5,5',
      'quality=0',
      'quality=101',
    ]) {
      await error(`${image(0)}/rendered?${q}`, 400, 'request.invalid');
    }
    expect(
      await error(`${image(1)}/rendered?viewport=10,10,100,100,64,64`, 400, 'request.invalid'),
    ).toContain('outside');
  });

  it('thumbnails: 128x128 at most; a series shows its middle image, a study its first series with images', async () => {
    const middle = await getImage(`${image(1)}/thumbnail`);
    expect([middle.meta.format, middle.meta.width, middle.meta.height]).toEqual(['jpeg', 128, 128]);
    const ofSeries = await getImage(`${series(s.images.seriesUid)}/thumbnail`);
    const ofStudy = await getImage(`${study()}/thumbnail`);
    expect(ofSeries.body.equals(middle.body)).toBe(true);
    expect(ofStudy.body.equals(middle.body)).toBe(true);
    expect((await getImage(`${image(0)}/thumbnail`)).body.equals(middle.body)).toBe(false);
    const frame2 = await getImage(
      `${instance(s.twoFrames.seriesUid, s.twoFrames.sop)}/frames/2/thumbnail?viewport=50,50`,
    );
    expect([frame2.meta.width, frame2.meta.height]).toEqual([50, 50]);
    const png = await getImage(`${study()}/thumbnail`, { accept: 'image/png' });
    expect(png.meta.format).toBe('png');
  });

  it('answers no_pixel_data for what holds no image, and cannot_decode (406) for what cannot be decoded', async () => {
    await error(`${series(s.sr.seriesUid)}/thumbnail`, 404, 'dicomweb.no_pixel_data');
    await error(`${instance(s.sr.seriesUid, s.sr.sop)}/rendered`, 404, 'dicomweb.no_pixel_data');
    await error(`${instance(s.sr.seriesUid, s.sr.sop)}/thumbnail`, 404, 'dicomweb.no_pixel_data');
    for (const path of [
      `${instance(s.broken.seriesUid, s.broken.sop)}/rendered`,
      `${series(s.broken.seriesUid)}/thumbnail`,
    ]) {
      expect(await error(path, 406, 'dicomweb.cannot_decode')).toContain('1.2.840.10008.1.2.4.91');
    }
  });

  it("renders a series or a study as a multipart of each image's first frame, leaving out what is not one", async () => {
    const res = await get(`${study()}/rendered`, { accept: 'multipart/related; type="image/png"' });
    expect(res.status, res.text()).toBe(200);
    const contentType = res.headers.get('content-type') ?? '';
    expect(contentType).toMatch(/^multipart\/related; type="image\/png"; boundary=/);
    const parts = readMultipart(res.body, contentType);
    // Three images, the two-frame one, two native ones; not the report nor the damaged JPEG 2000.
    expect(parts).toHaveLength(6);
    for (const p of parts) {
      expect(p.headers['content-type']).toBe('image/png');
      expect((await sharp(p.body).metadata()).format).toBe('png');
    }
    const one = await get(`${series(s.images.seriesUid)}/rendered`);
    const jpegs = readMultipart(one.body, one.headers.get('content-type') ?? '');
    expect(jpegs.map((p) => p.headers['content-type'])).toEqual(['image/jpeg', 'image/jpeg', 'image/jpeg']);
  });

  it('audits each image served, from the cache too (a thumbnail is served again even while its object cannot be opened)', async () => {
    const rowsOf = (requestId: string) =>
      t.database.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    const path = `${instance(s.twoFrames.seriesUid, s.twoFrames.sop)}/thumbnail?viewport=64,64`;
    const first = `r-${randomUUID()}`;
    const fresh = await getImage(path, { requestId: first });
    await withTamperedBlob(t, s.twoFrames.instance, async () => {
      const again = `r-${randomUUID()}`;
      const cached = await getImage(path, { requestId: again });
      expect(cached.body.equals(fresh.body)).toBe(true);
      for (const id of [first, again]) {
        const rows = await rowsOf(id);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          action: 'dicomweb.retrieve',
          actorId: w.a.reader.id,
          targetType: 'study',
          targetId: s.twoFrames.instance.studyId,
          details: { studyInstanceUid: s.studyUid, what: 'thumbnail', instances: 1 },
        });
      }
      // A rendered image is not cached: it is decrypted again, and here that fails.
      const failed = await get(`${instance(s.twoFrames.seriesUid, s.twoFrames.sop)}/rendered`);
      expect(failed.status).toBeGreaterThanOrEqual(400);
    });
    const rendered = `r-${randomUUID()}`;
    await getImage(`${image(0)}/rendered`, { requestId: rendered });
    expect((await rowsOf(rendered))[0]?.details).toEqual({
      studyInstanceUid: s.studyUid,
      what: 'rendered',
      instances: 1,
    });
    // A refused request writes nothing.
    const refused = `r-${randomUUID()}`;
    expect((await get(`${image(0)}/rendered`, { accept: 'image/gif', requestId: refused })).status).toBe(406);
    expect(await rowsOf(refused)).toHaveLength(0);
  });

  it("answers 404 for another group's study at every level, and for unknown ones", async () => {
    const o = w.other;
    const sopB = o.current[0]!.sealed.manifest.sopInstanceUid;
    const paths = [
      `/dicomweb/studies/${o.studyUid}/thumbnail`,
      `/dicomweb/studies/${o.studyUid}/rendered`,
      `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}/thumbnail`,
      `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}/instances/${sopB}/rendered`,
      `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}/instances/${sopB}/frames/1/rendered`,
      `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}/instances/${sopB}/thumbnail`,
      `${series(o.seriesUid)}/thumbnail`,
      `${instance(s.images.seriesUid, sopB)}/rendered`,
      `/dicomweb/studies/${newTestUid()}/thumbnail`,
    ];
    for (const path of paths) {
      const res = await t.request('GET', path, { token: w.a.reader.token });
      expectError(res, 404, 'resource.not_found');
      expect(res.text).not.toContain('DOE^JANE');
    }
    // Group B's own reader gets its study.
    await getImage(`/dicomweb/studies/${o.studyUid}/thumbnail`, { token: w.b.reader.token });
  });
});

// The shared suite (credentials, sessions, another group) for each kind of route, on PGlite: the group
// scope in SQL is what differs between backends, and the 404s above run on both.
describe('WADO-RS rendered and thumbnails: security', () => {
  const backend = 'pglite';
  runDicomwebReadSecurity(backend, [
    { name: 'WADO instance rendered', path: (ids) => `${instancePath(ids)}/rendered` },
    { name: 'WADO frame rendered', path: (ids) => `${instancePath(ids)}/frames/1/rendered` },
    { name: 'WADO series thumbnail', path: (ids) => `${seriesPath(ids)}/thumbnail` },
    { name: 'WADO study thumbnail', path: (ids) => `${studyPath(ids)}/thumbnail` },
  ]);
});
