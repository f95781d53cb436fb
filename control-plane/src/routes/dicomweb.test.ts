import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import dicomweb from 'dicomweb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  instancePath,
  runDicomwebReadSecurity,
  seriesPath,
  studyPath,
} from '../../../testkit/control-plane/dicomweb-security.js';
import {
  BACKENDS,
  createTestApp,
  getRaw,
  TEST_PUBLIC_URL,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import { newTestUid } from '../../../testkit/control-plane/seal-object.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { withTamperedBlob } from '../../../testkit/control-plane/seed-stored-study.js';
import {
  JPEG2000_LOSSLESS,
  type SeededStudy,
  seedWorklist,
  type Worklist,
} from '../../../testkit/control-plane/study-fixtures.js';

type Element = { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string };
type Dataset = Record<string, Element>;

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const DICOM_MULTIPART = 'multipart/related; type="application/dicom"';

/** The part of dicomweb-client used here (its generated typings mark every option as required). */
interface DicomwebClient {
  searchForStudies(o: { queryParams?: Record<string, string> }): Promise<unknown>;
  searchForSeries(o: { studyInstanceUID: string }): Promise<unknown>;
  searchForInstances(o: { studyInstanceUID: string; seriesInstanceUID?: string }): Promise<unknown>;
  retrieveInstance(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
  }): Promise<unknown>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<unknown>;
}
const DicomwebClientClass = dicomweb.api.DICOMwebClient as unknown as new (opts: {
  url: string;
  headers: Record<string, string>;
  verbose: boolean;
}) => DicomwebClient;

const first = (d: Dataset, tag: string): unknown => d[tag]?.Value?.[0];
const studyUidOf = (d: Dataset) => first(d, '0020000D') as string;

describe.each(BACKENDS)('DICOMweb (%s)', (backend) => {
  let t: TestApp;
  let w: Worklist;

  beforeAll(async () => {
    t = await createTestApp(backend);
    w = await seedWorklist(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (path: string, opts: { token?: string; accept?: string } = {}) =>
    getRaw(t, path, {
      token: opts.token ?? w.a.reader.token,
      headers: opts.accept !== undefined ? { accept: opts.accept } : {},
    });
  const json = async (path: string, opts: { token?: string; accept?: string } = {}) => {
    const res = await t.request<Dataset[]>('GET', path, {
      token: opts.token ?? w.a.reader.token,
      headers: opts.accept !== undefined ? { accept: opts.accept } : {},
    });
    expect(res.status, `${path}: ${res.text.slice(0, 300)}`).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/dicom+json');
    return res;
  };
  const studyUids = async (query: string, token?: string): Promise<string[]> =>
    (await json(`/dicomweb/studies${query}`, token ? { token } : {})).body.map(studyUidOf);
  const uids = (...s: SeededStudy[]) => s.map((x) => x.studyUid);
  const sop = (s: SeededStudy, n = 0) => s.current[n]!.sealed.manifest.sopInstanceUid;
  const instancePath = (s: SeededStudy, n = 0) =>
    `/dicomweb/studies/${s.studyUid}/series/${s.seriesUid}/instances/${sop(s, n)}`;

  describe('QIDO-RS studies', () => {
    it("answers the group's studies with the standard study attributes", async () => {
      const res = await json('/dicomweb/studies');
      expect(res.body.map(studyUidOf)).toEqual(uids(w.obrien, w.doe, w.mueller));
      expect(res.text).not.toContain(w.other.studyUid);
      const m = res.body.find((d) => studyUidOf(d) === w.mueller.studyUid)!;
      for (const tag of [
        '0020000D',
        '00100010',
        '00100020',
        '00080020',
        '00080030',
        '00080050',
        '00081030',
        '00080061',
        '00201206',
        '00201208',
        '00100030',
        '00100040',
        '00081190',
      ]) {
        expect(m[tag], tag).toBeDefined();
      }
      expect(m['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'MÜLLER^Zoë' }] });
      expect(m['00080061']).toEqual({ vr: 'CS', Value: ['CT'] });
      expect(first(m, '00201206')).toBe(1);
      expect(first(m, '00201208')).toBe(2);
      expect(first(m, '00080020')).toBe('20240105');
      expect(first(m, '00081190')).toBe(`${TEST_PUBLIC_URL}/dicomweb/studies/${w.mueller.studyUid}`);
      expect(Object.keys(m)).toEqual([...Object.keys(m)].sort());
      expect(await studyUids('', w.b.reader.token)).toEqual([w.other.studyUid]);
    });

    it('matches PatientName with wildcards, case and accents ignored, by keyword or tag', async () => {
      expect(await studyUids('?PatientName=doe*')).toEqual(uids(w.doe));
      expect(await studyUids('?PatientName=DOE%5EJ*')).toEqual(uids(w.doe));
      expect(await studyUids('?00100010=doe*')).toEqual(uids(w.doe));
      expect(await studyUids('?PatientName=*zoe')).toEqual(uids(w.mueller));
      expect(await studyUids('?PatientName=m%3Fller*')).toEqual(uids(w.mueller));
      expect(await studyUids(`?PatientName=${encodeURIComponent('MÜLLER^ZOË')}`)).toEqual(uids(w.mueller));
      expect(await studyUids('?PatientName=*')).toEqual(uids(w.obrien, w.doe, w.mueller));
      // Single value matching is the whole name; fuzzy matching also takes the start of any word.
      expect(await studyUids('?PatientName=doe')).toEqual([]);
      expect(await studyUids('?PatientName=john&fuzzymatching=true')).toEqual(uids(w.doe));
      // Group B's DOE^JANE never shows.
      expect(await studyUids('?PatientName=*jane*')).toEqual([]);
    });

    it('treats SQL and LIKE characters in values as text', async () => {
      expect(await studyUids(`?PatientName=${encodeURIComponent("'; drop table studies; --")}`)).toEqual([]);
      expect(await studyUids('?PatientName=%25')).toEqual([]);
      expect(await studyUids('?PatientName=_*')).toEqual([]);
      expect(await studyUids('?PatientID=X%25_1')).toEqual(uids(w.doe));
      expect(await studyUids('?PatientID=X%25')).toEqual([]);
      expect(await studyUids('?PatientID=X_*')).toEqual([]);
      expect(await studyUids(`?AccessionNumber=${encodeURIComponent("' or 1=1 --")}`)).toEqual([]);
      expect(await studyUids('')).toHaveLength(3);
    });

    it('matches PatientID, UID lists, dates, modalities, accession number and description', async () => {
      expect(await studyUids('?PatientID=PID-001')).toEqual(uids(w.mueller));
      expect(await studyUids('?PatientID=PID*')).toEqual(uids(w.obrien, w.mueller));
      expect(await studyUids(`?StudyInstanceUID=${w.doe.studyUid},${w.mueller.studyUid}`)).toEqual(
        uids(w.doe, w.mueller),
      );
      expect(await studyUids(`?StudyInstanceUID=${w.doe.studyUid}%5C${w.obrien.studyUid}`)).toEqual(
        uids(w.obrien, w.doe),
      );
      expect(await studyUids(`?0020000D=${w.doe.studyUid}&0020000D=${w.mueller.studyUid}`)).toEqual(
        uids(w.doe, w.mueller),
      );
      expect(await studyUids(`?StudyInstanceUID=${w.other.studyUid}`)).toEqual([]);
      expect(await studyUids('?StudyDate=20240101-20240131')).toEqual(uids(w.mueller));
      expect(await studyUids('?StudyDate=20240210')).toEqual(uids(w.doe));
      expect(await studyUids('?StudyDate=-20231231')).toEqual(uids(w.obrien));
      expect(await studyUids('?StudyDate=20240101-')).toEqual(uids(w.doe, w.mueller));
      expect(await studyUids('?StudyDate=2024-01-01-2024-01-31')).toEqual(uids(w.mueller));
      expect(await studyUids('?ModalitiesInStudy=MR')).toEqual(uids(w.obrien, w.doe));
      expect(await studyUids('?ModalitiesInStudy=CT,MR')).toEqual(uids(w.obrien, w.doe, w.mueller));
      expect(await studyUids('?AccessionNumber=ACC-1')).toEqual(uids(w.mueller));
      expect(await studyUids('?StudyDescription=*mr')).toEqual(uids(w.obrien, w.doe));
      expect(await studyUids('?StudyDescription=chest%20ct')).toEqual(uids(w.mueller));
      expect(await studyUids('?PatientName=*o*&StudyDate=20240101-&ModalitiesInStudy=MR')).toEqual(
        uids(w.doe),
      );
    });

    it('refuses malformed values with 400 request.invalid', async () => {
      for (const query of [
        '?StudyDate=yesterday',
        '?StudyDate=20241301',
        '?StudyDate=20240201-20240101',
        '?StudyInstanceUID=1.2.3%27',
        '?limit=-1',
        '?offset=x',
        '?ModalitiesInStudy=%27%3B',
      ]) {
        const res = await t.request('GET', `/dicomweb/studies${query}`, { token: w.a.reader.token });
        expectError(res, 400, 'request.invalid');
      }
    });

    it('pages with limit and offset and warns when more match', async () => {
      const page = await json('/dicomweb/studies?limit=1&offset=1');
      expect(page.body.map(studyUidOf)).toEqual(uids(w.doe));
      expect(page.headers.get('warning')).toMatch(/^299 .*offset=2/);
      const last = await json('/dicomweb/studies?limit=1&offset=2');
      expect(last.body.map(studyUidOf)).toEqual(uids(w.mueller));
      expect(last.headers.get('warning')).toBeNull();
      expect((await json('/dicomweb/studies?offset=3')).body).toEqual([]);
    });

    it('adds includefield attributes from the stored headers and warns about ignored keys', async () => {
      const res = await json(
        `/dicomweb/studies?StudyInstanceUID=${w.mueller.studyUid}&includefield=00200010&includefield=InstitutionName,NoSuchKeyword&Foo=bar`,
      );
      const d = res.body[0]!;
      expect(d['00200010']).toBeDefined();
      expect(res.headers.get('warning')).toMatch(/^299 .*Foo.*NoSuchKeyword|^299 .*NoSuchKeyword.*Foo/);
      const all = await json(`/dicomweb/studies?StudyInstanceUID=${w.mueller.studyUid}&includefield=all`);
      expect(all.body[0]!['00200010']).toBeDefined();
      // The index, not one instance's header, answers the patient name.
      expect(first(all.body[0]!, '00100010')).toEqual({ Alphabetic: 'MÜLLER^Zoë' });
    });

    it('answers JSON for application/json and wildcards, 406 for anything else', async () => {
      for (const accept of ['application/dicom+json', 'application/json', '*/*', 'application/*', '']) {
        await json('/dicomweb/studies', { accept });
      }
      const res = await t.request('GET', '/dicomweb/studies', {
        token: w.a.reader.token,
        headers: { accept: 'application/dicom+xml' },
      });
      expectError(res, 406, 'request.not_acceptable');
    });
  });

  describe('QIDO-RS series and instances', () => {
    it("answers a study's series with the series attributes", async () => {
      const res = await json(`/dicomweb/studies/${w.mueller.studyUid}/series`);
      expect(res.body).toHaveLength(1);
      const s = res.body[0]!;
      expect(first(s, '0020000E')).toBe(w.mueller.seriesUid);
      expect(first(s, '0020000D')).toBe(w.mueller.studyUid);
      expect(first(s, '00080060')).toBe('CT');
      expect(first(s, '00200011')).toBe(1);
      expect(first(s, '00201209')).toBe(2);
      expect(s['0008103E']).toBeDefined();
      expect(first(s, '00081190')).toBe(
        `${TEST_PUBLIC_URL}/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}`,
      );
      expect((await json(`/dicomweb/studies/${w.mueller.studyUid}/series?Modality=MR`)).body).toEqual([]);
      expect(
        (
          await json(
            `/dicomweb/studies/${w.mueller.studyUid}/series?SeriesInstanceUID=${w.mueller.seriesUid}`,
          )
        ).body,
      ).toHaveLength(1);
      expect((await json(`/dicomweb/studies/${w.mueller.studyUid}/series?SeriesNumber=1`)).body).toHaveLength(
        1,
      );
    });

    it('answers current instances with the instance and image pixel attributes', async () => {
      for (const path of [
        `/dicomweb/studies/${w.mueller.studyUid}/instances`,
        `/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/instances`,
      ]) {
        const res = await json(path);
        expect(res.body.map((d) => first(d, '00080018'))).toEqual([sop(w.mueller, 0), sop(w.mueller, 1)]);
        const d = res.body[0]!;
        expect(first(d, '00080016')).toBe('1.2.840.10008.5.1.4.1.1.2');
        expect(first(d, '00200013')).toBe(1);
        expect(first(d, '00280010')).toBe(128);
        expect(first(d, '00280011')).toBe(128);
        expect(first(d, '00280100')).toBe(16);
        expect(d['00280004']).toBeDefined();
        expect(d['00280008']).toEqual({ vr: 'IS' });
        expect(first(d, '00083002')).toBe(EXPLICIT_LE);
        expect(first(d, '0020000E')).toBe(w.mueller.seriesUid);
        expect(d['00100010']).toBeUndefined();
      }
      const base = `/dicomweb/studies/${w.mueller.studyUid}/instances`;
      expect((await json(`${base}?InstanceNumber=2`)).body.map((d) => first(d, '00080018'))).toEqual([
        sop(w.mueller, 1),
      ]);
      expect((await json(`${base}?SOPInstanceUID=${sop(w.mueller, 1)}`)).body).toHaveLength(1);
      expect((await json(`${base}?SOPClassUID=1.2.840.10008.5.1.4.1.1.4`)).body).toEqual([]);
      expect((await json(`${base}?Modality=CT&limit=1`)).body).toHaveLength(1);
      const all = await json(`${base}?includefield=all&limit=1`);
      expect(all.body[0]!['00100010']).toBeDefined();
      expect(all.headers.get('warning')).toMatch(/^299 /);
    });

    it("answers 404 for another group's study and for an unknown study", async () => {
      for (const path of [
        `/dicomweb/studies/${w.other.studyUid}/series`,
        `/dicomweb/studies/${w.other.studyUid}/instances`,
        `/dicomweb/studies/${w.other.studyUid}/series/${w.other.seriesUid}/instances`,
        `/dicomweb/studies/${newTestUid()}/series`,
      ]) {
        expectError(await t.request('GET', path, { token: w.a.reader.token }), 404, 'resource.not_found');
      }
    });
  });

  describe('WADO-RS', () => {
    const parts = async (res: Response) => {
      expect(res.status).toBe(200);
      const type = res.headers.get('content-type') ?? '';
      expect(type).toMatch(/^multipart\/related; type="application\/dicom"; boundary=[\w-]+$/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      return readMultipart(Buffer.from(await res.arrayBuffer()), type);
    };

    it('retrieves an instance, a series and a study as the stored Part-10 files', async () => {
      const one = await parts(await get(instancePath(w.mueller, 1), { accept: DICOM_MULTIPART }));
      expect(one).toHaveLength(1);
      expect(one[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${EXPLICIT_LE}`);
      expect(one[0]!.body.equals(w.mueller.current[1]!.sealed.plaintext)).toBe(true);

      const series = await parts(
        await get(`/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}`, { accept: '*/*' }),
      );
      const study = await parts(await get(`/dicomweb/studies/${w.mueller.studyUid}`));
      for (const got of [series, study]) {
        expect(got.map((p) => p.body.equals(w.mueller.current[0]!.sealed.plaintext))).toEqual([true, false]);
        expect(got[1]!.body.equals(w.mueller.current[1]!.sealed.plaintext)).toBe(true);
      }
    });

    it('honours the transfer syntax asked for, and refuses (406) one it cannot produce', async () => {
      for (const accept of [
        `${DICOM_MULTIPART}; transfer-syntax=*`,
        `${DICOM_MULTIPART}; transfer-syntax=${EXPLICIT_LE}`,
        'multipart/related; type=application/dicom',
        `application/json;q=0.5, ${DICOM_MULTIPART}`,
        'multipart/*',
      ]) {
        const got = await parts(await get(instancePath(w.mueller), { accept }));
        expect(got[0]!.body.equals(w.mueller.current[0]!.sealed.plaintext), accept).toBe(true);
      }
      const j2k = await parts(
        await get(instancePath(w.obrien), {
          accept: `${DICOM_MULTIPART}; transfer-syntax=${JPEG2000_LOSSLESS}`,
        }),
      );
      expect(j2k[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${JPEG2000_LOSSLESS}`);
      expect(j2k[0]!.body.equals(w.obrien.current[0]!.sealed.plaintext)).toBe(true);

      const refused = await t.request('GET', instancePath(w.obrien), {
        token: w.a.reader.token,
        // JPEG-LS: neither stored nor produced (ELE is, losslessly: dicomweb-transcode.test.ts).
        headers: { accept: `${DICOM_MULTIPART}; transfer-syntax=1.2.840.10008.1.2.4.80` },
      });
      expect(expectError(refused, 406, 'request.not_acceptable').error.message).toContain(JPEG2000_LOSSLESS);
      for (const accept of [
        'application/dicom',
        'application/json',
        'multipart/related; type="image/jpeg"',
      ]) {
        const res = await t.request('GET', instancePath(w.mueller), {
          token: w.a.reader.token,
          headers: { accept },
        });
        expectError(res, 406, 'request.not_acceptable');
      }
    });

    it('returns the stored headers as /metadata at every level', async () => {
      const study = await json(`/dicomweb/studies/${w.mueller.studyUid}/metadata`);
      expect(study.body.map((d) => first(d, '00080018')).sort()).toEqual(
        [sop(w.mueller, 0), sop(w.mueller, 1)].sort(),
      );
      for (const d of study.body) {
        expect(first(d, '0020000D')).toBe(w.mueller.studyUid);
        expect(first(d, '00100010')).toEqual({ Alphabetic: 'MÜLLER^Zoë' });
        expect(first(d, '00083002')).toBe(EXPLICIT_LE);
        // Pixel Data by reference, at the instance's bulkdata (dicomweb-frames.test.ts reads it).
        expect(d['7FE00010']).toEqual({
          vr: 'OW',
          BulkDataURI: `${TEST_PUBLIC_URL}/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/instances/${first(d, '00080018')}/bulkdata/7FE00010`,
        });
      }
      const series = await json(
        `/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/metadata`,
      );
      expect(series.body).toHaveLength(2);
      const instance = await json(`${instancePath(w.obrien)}/metadata`);
      expect(instance.body).toHaveLength(1);
      expect(first(instance.body[0]!, '00083002')).toBe(JPEG2000_LOSSLESS);
      expectError(
        await t.request('GET', `/dicomweb/studies/${w.mueller.studyUid}/metadata`, {
          token: w.a.reader.token,
          headers: { accept: 'application/dicom' },
        }),
        406,
        'request.not_acceptable',
      );
    });

    it("answers 404 for every path into another group's study, and for unknown ones", async () => {
      const o = w.other;
      const paths = [
        `/dicomweb/studies/${o.studyUid}`,
        `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}`,
        instancePath(o),
        `/dicomweb/studies/${o.studyUid}/metadata`,
        `/dicomweb/studies/${o.studyUid}/series/${o.seriesUid}/metadata`,
        `${instancePath(o)}/metadata`,
        `/dicomweb/studies/${w.mueller.studyUid}/series/${o.seriesUid}`,
        `/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/instances/${sop(o)}`,
        `/dicomweb/studies/${w.mueller.studyUid}/series/${newTestUid()}/metadata`,
        `/dicomweb/studies/${newTestUid()}`,
      ];
      for (const path of paths) {
        const res = await t.request('GET', path, { token: w.a.reader.token });
        expectError(res, 404, 'resource.not_found');
        expect(res.text).not.toContain('DOE^JANE');
      }
      expectError(
        await t.request('GET', `/dicomweb/studies/${w.mueller.studyUid}`, { token: w.b.reader.token }),
        404,
        'resource.not_found',
      );
    });

    it('aborts the response, not ends it, when an object fails to open midway', async () => {
      await withTamperedBlob(t, w.mueller.current[1]!, async () => {
        const res = await get(`/dicomweb/studies/${w.mueller.studyUid}`);
        expect(res.status).toBe(200);
        await expect(res.arrayBuffer()).rejects.toThrow();
      });
    });
  });

  describe('with dicomweb-client (the client OHIF uses) over a real socket', () => {
    let server: ReturnType<typeof serve>;
    let url: string;
    const client = (token: string) =>
      new DicomwebClientClass({ url, headers: { Authorization: `Bearer ${token}` }, verbose: false });

    beforeAll(async () => {
      const g = globalThis as Record<string, unknown>;
      g.XMLHttpRequest ??= createRequire(import.meta.url)('xhr2');
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicomweb`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('searches, retrieves an instance byte for byte, and reads study metadata', async () => {
      const c = client(w.a.reader.token);
      const studies = (await c.searchForStudies({ queryParams: { PatientName: 'müll*' } })) as Dataset[];
      expect(studies.map(studyUidOf)).toEqual([w.mueller.studyUid]);

      const series = (await c.searchForSeries({ studyInstanceUID: w.mueller.studyUid })) as Dataset[];
      expect(series.map((s) => first(s, '0020000E'))).toEqual([w.mueller.seriesUid]);

      const instances = (await c.searchForInstances({
        studyInstanceUID: w.mueller.studyUid,
        seriesInstanceUID: w.mueller.seriesUid,
      })) as Dataset[];
      expect(instances.map((i) => first(i, '00080018'))).toEqual([sop(w.mueller, 0), sop(w.mueller, 1)]);

      const instance = (await c.retrieveInstance({
        studyInstanceUID: w.mueller.studyUid,
        seriesInstanceUID: w.mueller.seriesUid,
        sopInstanceUID: sop(w.mueller, 0),
      })) as ArrayBuffer;
      expect(Buffer.from(instance).equals(w.mueller.current[0]!.sealed.plaintext)).toBe(true);

      const metadata = (await c.retrieveStudyMetadata({ studyInstanceUID: w.mueller.studyUid })) as Dataset[];
      expect(metadata).toHaveLength(2);
      expect(metadata.every((m) => first(m, '0020000D') === w.mueller.studyUid)).toBe(true);
    });

    it("gets nothing of another group's data", async () => {
      const c = client(w.b.reader.token);
      const studies = (await c.searchForStudies({ queryParams: { PatientName: '*' } })) as Dataset[];
      expect(studies.map(studyUidOf)).toEqual([w.other.studyUid]);
      const status = async (p: Promise<unknown>) =>
        p.then(
          () => 200,
          (e: { status?: number }) => e.status,
        );
      expect(
        await status(
          c.retrieveInstance({
            studyInstanceUID: w.mueller.studyUid,
            seriesInstanceUID: w.mueller.seriesUid,
            sopInstanceUID: sop(w.mueller, 0),
          }),
        ),
      ).toBe(404);
      expect(await status(c.retrieveStudyMetadata({ studyInstanceUID: w.mueller.studyUid }))).toBe(404);
    });
  });
});

describe.each(BACKENDS)('DICOMweb security (%s)', (backend) => {
  runDicomwebReadSecurity(backend, [
    { name: 'QIDO studies', path: '/dicomweb/studies' },
    { name: 'QIDO series', path: (ids) => `${studyPath(ids)}/series` },
    { name: 'QIDO study instances', path: (ids) => `${studyPath(ids)}/instances` },
    { name: 'QIDO series instances', path: (ids) => `${seriesPath(ids)}/instances` },
    { name: 'WADO study', path: studyPath },
    { name: 'WADO series', path: seriesPath },
    { name: 'WADO instance', path: instancePath },
    { name: 'WADO study metadata', path: (ids) => `${studyPath(ids)}/metadata` },
    { name: 'WADO series metadata', path: (ids) => `${seriesPath(ids)}/metadata` },
    { name: 'WADO instance metadata', path: (ids) => `${instancePath(ids)}/metadata` },
  ]);
});
