// Reading patient data leaves a trace: the study page (API and console), the zip, QIDO-RS and WADO-RS
// each write one audit row per study the request read, and a request that served nothing writes none.
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestApp, type TestApp } from '../../../testkit/control-plane/harness.js';
import { seedWorklist, type Worklist } from '../../../testkit/control-plane/study-fixtures.js';
import { auditLog } from '../db/schema/index.js';

describe.each(BACKENDS)('audit of PHI reads (%s)', (backend) => {
  let t: TestApp;
  let w: Worklist;

  beforeAll(async () => {
    t = await createTestApp(backend);
    w = await seedWorklist(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A GET as group A's reader with its own request id; the body is read to the end. */
  async function read(
    path: string,
    opts: { accept?: string; cookie?: boolean } = {},
  ): Promise<{ status: number; requestId: string; body: string }> {
    const requestId = `phi-${randomUUID()}`;
    const headers: Record<string, string> = { 'x-request-id': requestId };
    if (opts.cookie) headers.cookie = `ferry_session=${w.a.reader.token}`;
    else headers.authorization = `Bearer ${w.a.reader.token}`;
    if (opts.accept) headers.accept = opts.accept;
    const res = await t.app.request(`http://ferry.test${path}`, { headers });
    return { status: res.status, requestId, body: await res.text() };
  }
  const rowsOf = (requestId: string) =>
    t.database.db.select().from(auditLog).where(eq(auditLog.requestId, requestId)).orderBy(auditLog.id);
  const studyIdOf = (s: Worklist['mueller']) => s.current[0]!.studyId;
  const JSON_ACCEPT = 'application/dicom+json';
  const DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

  function expectOneRead(
    rows: Awaited<ReturnType<typeof rowsOf>>,
    action: string,
    study: Worklist['mueller'],
    details: Record<string, unknown>,
  ) {
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      groupId: w.a.groupId,
      actorType: 'user',
      actorId: w.a.reader.id,
      action,
      targetType: 'study',
      targetId: studyIdOf(study),
      details: { studyInstanceUid: study.studyUid, ...details },
    });
  }

  it('GET /api/v1/studies/{uid}: one study.read row with the instance count', async () => {
    const r = await read(`/api/v1/studies/${w.mueller.studyUid}`);
    expect(r.status, r.body).toBe(200);
    expectOneRead(await rowsOf(r.requestId), 'study.read', w.mueller, { instances: 2 });
  });

  it('the console study page: one study.read row', async () => {
    const r = await read(`/studies/${w.doe.studyUid}`, { cookie: true });
    expect(r.status).toBe(200);
    expect(r.body).toContain('DOE');
    expectOneRead(await rowsOf(r.requestId), 'study.read', w.doe, { instances: 1 });
    // A page of a series' instances counts the instances that page showed.
    const paged = await read(`/studies/${w.mueller.studyUid}?series=${w.mueller.seriesUid}&page=2&limit=1`, {
      cookie: true,
    });
    expect(paged.status).toBe(200);
    expectOneRead(await rowsOf(paged.requestId), 'study.read', w.mueller, { instances: 1 });
  });

  it('the zip download: one study.download row', async () => {
    const r = await read(`/api/v1/studies/${w.mueller.studyUid}/download`);
    expect(r.status).toBe(200);
    expectOneRead(await rowsOf(r.requestId), 'study.download', w.mueller, { instances: 2 });
  });

  it('QIDO-RS: one dicomweb.query row per study in the answer, in one request', async () => {
    const all = await read('/dicomweb/studies', { accept: JSON_ACCEPT });
    expect(all.status).toBe(200);
    const rows = await rowsOf(all.requestId);
    expect(rows.map((r) => r.action)).toEqual(['dicomweb.query', 'dicomweb.query', 'dicomweb.query']);
    expect(rows.map((r) => r.targetId).sort()).toEqual(
      [studyIdOf(w.mueller), studyIdOf(w.doe), studyIdOf(w.obrien)].sort(),
    );
    expect(rows.every((r) => (r.details as { level: string }).level === 'study')).toBe(true);

    const series = await read(`/dicomweb/studies/${w.mueller.studyUid}/series`, { accept: JSON_ACCEPT });
    expect(series.status).toBe(200);
    expectOneRead(await rowsOf(series.requestId), 'dicomweb.query', w.mueller, {
      level: 'series',
      series: 1,
    });

    const inst = await read(`/dicomweb/studies/${w.mueller.studyUid}/instances`, { accept: JSON_ACCEPT });
    expect(inst.status).toBe(200);
    expectOneRead(await rowsOf(inst.requestId), 'dicomweb.query', w.mueller, {
      level: 'instance',
      instances: 2,
    });
  });

  it('WADO-RS: one dicomweb.retrieve row for the instances and one for the metadata', async () => {
    const r = await read(`/dicomweb/studies/${w.mueller.studyUid}`, { accept: DICOM_ACCEPT });
    expect(r.status).toBe(200);
    expectOneRead(await rowsOf(r.requestId), 'dicomweb.retrieve', w.mueller, {
      what: 'instances',
      instances: 2,
    });
    const one = await read(
      `/dicomweb/studies/${w.doe.studyUid}/series/${w.doe.seriesUid}/instances/${w.doe.current[0]!.sealed.manifest.sopInstanceUid}`,
      { accept: DICOM_ACCEPT },
    );
    expect(one.status).toBe(200);
    expectOneRead(await rowsOf(one.requestId), 'dicomweb.retrieve', w.doe, {
      what: 'instances',
      instances: 1,
    });

    const meta = await read(`/dicomweb/studies/${w.mueller.studyUid}/metadata`, { accept: JSON_ACCEPT });
    expect(meta.status).toBe(200);
    expect(JSON.parse(meta.body)).toHaveLength(2);
    expectOneRead(await rowsOf(meta.requestId), 'dicomweb.retrieve', w.mueller, {
      what: 'metadata',
      instances: 2,
    });
  });

  it('a request that served nothing writes nothing', async () => {
    const refused = [
      await read(`/api/v1/studies/${w.other.studyUid}`),
      await read(`/studies/${w.other.studyUid}`, { cookie: true }),
      await read(`/api/v1/studies/${w.other.studyUid}/download`),
      await read(`/dicomweb/studies/${w.other.studyUid}`, { accept: DICOM_ACCEPT }),
      await read(`/dicomweb/studies/${w.other.studyUid}/metadata`, { accept: JSON_ACCEPT }),
      await read(`/dicomweb/studies/${w.other.studyUid}/series`, { accept: JSON_ACCEPT }),
      // Stored as JPEG 2000: an Accept of JPEG-LS only cannot be served (this server does not encode it).
      await read(`/dicomweb/studies/${w.obrien.studyUid}`, {
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80',
      }),
      // Matches nothing.
      await read('/dicomweb/studies?PatientName=NOBODY', { accept: JSON_ACCEPT }),
      await read(`/dicomweb/studies/${w.mueller.studyUid}/series?Modality=US`, { accept: JSON_ACCEPT }),
    ];
    expect(refused.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404, 406, 200, 200]);
    for (const r of refused) expect(await rowsOf(r.requestId), r.requestId).toEqual([]);
  });

  it('is filterable by action in the audit API and the console', async () => {
    const r = await read(`/dicomweb/studies/${w.obrien.studyUid}/metadata`, { accept: JSON_ACCEPT });
    expect(r.status).toBe(200);
    const api = await t.request<{ entries: { action: string; requestId: string }[] }>(
      'GET',
      '/api/v1/audit?action=dicomweb.retrieve&limit=200',
      { token: w.a.admin.token },
    );
    expect(api.status, api.text).toBe(200);
    expect(api.body.entries.length).toBeGreaterThan(0);
    expect(api.body.entries.every((e) => e.action === 'dicomweb.retrieve')).toBe(true);
    expect(api.body.entries.map((e) => e.requestId)).toContain(r.requestId);

    const page = await t.app.request('http://ferry.test/audit?action=study.read', {
      headers: { cookie: `ferry_session=${w.a.admin.token}` },
    });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<code>study.read</code>');
    expect(html).not.toContain('<code>dicomweb.retrieve</code>');
    expect(html).toContain('<option value="dicomweb.retrieve">');
  });
});
