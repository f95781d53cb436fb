/**
 * WADO-RS retrieve in the transfer syntax asked for (PS3.18 8.7.3.4): the default (no transfer-syntax)
 * is Explicit VR Little Endian, transcoded losslessly; `*` and the stored syntax give the stored bytes;
 * lossy instances are not decompressed. Transcoding itself is tested in dicom/transcode.test.ts.
 */

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import dicomweb from 'dicomweb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, getRaw, type TestApp } from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import { DICOM_SAMPLES_DIR, newTestUid } from '../../../testkit/control-plane/seal-object.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import {
  type StoredTestInstance,
  seedStoredInstance,
} from '../../../testkit/control-plane/seed-stored-study.js';
import {
  JPEG2000_LOSSLESS,
  seedWorklist,
  type Worklist,
} from '../../../testkit/control-plane/study-fixtures.js';

const ELE = '1.2.840.10008.1.2.1';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_LS = '1.2.840.10008.1.2.4.80';
const M = 'multipart/related; type="application/dicom"';

/** The Pixel Data value of a native little endian Part-10 file (the last 7FE0,0010 OW). */
function pixelData(part10: Buffer): Buffer {
  const at = part10.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]));
  return part10.subarray(at + 12, at + 12 + part10.readUInt32LE(at + 8));
}

function syntaxOf(part10: Buffer): string {
  const at = part10.indexOf(Buffer.from([0x02, 0x00, 0x10, 0x00]), 132);
  return part10.toString('latin1', at + 8, at + 8 + part10.readUInt16LE(at + 6)).replace(/\0+$/, '');
}

describe('WADO-RS transfer syntaxes (pglite)', () => {
  let t: TestApp;
  let w: Worklist;
  let mrPixels: Buffer;
  /** A study of group A holding a lossy JPEG baseline instance, then a JPEG-LS lossless one. */
  let mixed: { studyUid: string; seriesUid: string; lossy: StoredTestInstance; jls: StoredTestInstance };

  beforeAll(async () => {
    t = await createTestApp('pglite');
    w = await seedWorklist(t);
    mrPixels = pixelData(await readFile(`${DICOM_SAMPLES_DIR}/MR_small.dcm`));
    const studyUid = newTestUid();
    const seriesUid = newTestUid();
    const where = { groupId: w.a.groupId, facilityId: w.facilities.a1.facilityId };
    const seed = (sample: string, instanceNumber: number) =>
      seedStoredInstance(t, where, {
        sample,
        set: {
          studyInstanceUid: studyUid,
          seriesInstanceUid: seriesUid,
          sopInstanceUid: newTestUid(),
          instanceNumber,
        },
      });
    mixed = {
      studyUid,
      seriesUid,
      lossy: await seed('SC_rgb_jpeg_dcmtk.dcm', 1),
      jls: await seed('MR_small_jpeg_ls_lossless.dcm', 2),
    };
  });
  afterAll(async () => {
    await t?.close();
  });

  const obrienPath = () =>
    `/dicomweb/studies/${w.obrien.studyUid}/series/${w.obrien.seriesUid}/instances/${w.obrien.current[0]!.sealed.manifest.sopInstanceUid}`;
  const get = (path: string, accept?: string, token = w.a.reader.token) =>
    getRaw(t, path, { token, headers: accept === undefined ? {} : { accept } });
  const parts = async (res: Response) => {
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString('utf8', 0, 300)).toBe(200);
    return readMultipart(body, res.headers.get('content-type') ?? '');
  };
  const refusal = async (path: string, accept: string | undefined, status: number, code: string) => {
    const res = await t.request('GET', path, {
      token: w.a.reader.token,
      headers: accept === undefined ? {} : { accept },
    });
    return expectError(res, status, code).error.message;
  };

  it('answers Explicit VR Little Endian by default, decoding JPEG 2000 lossless to the exact pixels', async () => {
    const stored = w.obrien.current[0]!.sealed.plaintext;
    for (const accept of [M, `${M}; transfer-syntax=${ELE}`, '*/*', undefined]) {
      const [part, ...rest] = await parts(await get(obrienPath(), accept));
      expect(rest, String(accept)).toEqual([]);
      expect(part!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
      expect(syntaxOf(part!.body)).toBe(ELE);
      expect(pixelData(part!.body).equals(mrPixels), String(accept)).toBe(true);
      expect(part!.body.equals(stored)).toBe(false);
    }
    const [deflated] = await parts(await get(obrienPath(), `${M}; transfer-syntax=${DEFLATED}`));
    expect(deflated!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${DEFLATED}`);
    expect(syntaxOf(deflated!.body)).toBe(DEFLATED);
  });

  it('gives the stored bytes for transfer-syntax=* and for the stored syntax named', async () => {
    const stored = w.obrien.current[0]!.sealed.plaintext;
    for (const accept of [`${M}; transfer-syntax=*`, `${M}; transfer-syntax=${JPEG2000_LOSSLESS}`]) {
      const [part] = await parts(await get(obrienPath(), accept));
      expect(part!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${JPEG2000_LOSSLESS}`);
      expect(part!.body.equals(stored), accept).toBe(true);
    }
  });

  it('sends a lossy instance as stored by default, beside a lossless one transcoded, and refuses to decompress it on request', async () => {
    const study = `/dicomweb/studies/${mixed.studyUid}`;
    const got = await parts(await get(study, M));
    expect(got.map((p) => p.headers['content-type'])).toEqual([
      `application/dicom; transfer-syntax=${JPEG_BASELINE}`,
      `application/dicom; transfer-syntax=${ELE}`,
    ]);
    expect(got[0]!.body.equals(mixed.lossy.sealed.plaintext)).toBe(true);
    expect(pixelData(got[1]!.body).equals(mrPixels)).toBe(true);

    expect(await refusal(study, `${M}; transfer-syntax=${ELE}`, 406, 'dicomweb.cannot_transcode')).toContain(
      JPEG_BASELINE,
    );
    expect(
      await refusal(obrienPath(), `${M}; transfer-syntax=${JPEG_LS}`, 406, 'request.not_acceptable'),
    ).toContain('transfer-syntax=*');
    const asStored = await parts(await get(study, `${M}; transfer-syntax=*`));
    expect(asStored.map((p) => p.body.equals(mixed.lossy.sealed.plaintext))).toEqual([true, false]);
    expect(asStored[1]!.body.equals(mixed.jls.sealed.plaintext)).toBe(true);
  });

  it('refuses (406) to transcode an instance over the limit, and still serves it as stored', async () => {
    t.deps.transcodeMaxBytes = 1000;
    try {
      expect(await refusal(obrienPath(), M, 406, 'dicomweb.cannot_transcode')).toContain('transfer-syntax=*');
      const [part] = await parts(await get(obrienPath(), `${M}; transfer-syntax=*`));
      expect(part!.body.equals(w.obrien.current[0]!.sealed.plaintext)).toBe(true);
    } finally {
      t.deps.transcodeMaxBytes = undefined;
    }
  });

  it("keeps the group scope: another group's reader, no token and a bad token get nothing", async () => {
    expectError(
      await t.request('GET', obrienPath(), { token: w.b.reader.token, headers: { accept: M } }),
      404,
      'resource.not_found',
    );
    expectError(await t.request('GET', obrienPath(), { headers: { accept: M } }), 401, 'auth.missing_token');
    expectError(
      await t.request('GET', obrienPath(), { token: `${w.a.reader.token}x`, headers: { accept: M } }),
      401,
      'auth.invalid_token',
    );
  });

  // dicomweb-client 0.11.3 sends `multipart/related; type="application/dicom"` (no transfer syntax)
  // from retrieveInstance/Series/Study; given mediaTypes it fails on its own ("Media type application/
  // is not supported"), so through it a compressed instance comes back as ELE.
  it('dicomweb-client (what OHIF uses) gets Explicit VR Little Endian from retrieveInstance', async () => {
    (globalThis as Record<string, unknown>).XMLHttpRequest ??= createRequire(import.meta.url)('xhr2');
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    try {
      const Client = dicomweb.api.DICOMwebClient as unknown as new (o: {
        url: string;
        headers: Record<string, string>;
      }) => {
        retrieveInstance(o: Record<string, unknown>): Promise<ArrayBuffer>;
      };
      const c = new Client({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicomweb`,
        headers: { Authorization: `Bearer ${w.a.reader.token}` },
      });
      const ids = {
        studyInstanceUID: w.obrien.studyUid,
        seriesInstanceUID: w.obrien.seriesUid,
        sopInstanceUID: w.obrien.current[0]!.sealed.manifest.sopInstanceUid,
      };
      const ele = Buffer.from(await c.retrieveInstance(ids));
      expect(syntaxOf(ele)).toBe(ELE);
      expect(pixelData(ele).equals(mrPixels)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
