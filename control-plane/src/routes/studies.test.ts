import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestApp, getRaw, type TestApp } from '../../../testkit/control-plane/harness.js';
import { newTestUid } from '../../../testkit/control-plane/seal-object.js';
import { expectError, runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { withTamperedBlob } from '../../../testkit/control-plane/seed-stored-study.js';
import {
  type SeededStudy,
  seedOneStudy,
  seedWorklist,
  type Worklist,
} from '../../../testkit/control-plane/study-fixtures.js';
import { readZip } from '../../../testkit/control-plane/zip-reader.js';
import { auditLog } from '../db/schema/index.js';

interface StudyItem {
  id: string;
  studyInstanceUid: string;
  patient: { name: string | null; id: string | null; birthDate: string | null; sex: string | null };
  studyDate: string | null;
  description: string | null;
  accessionNumber: string | null;
  modalities: string[];
  facility: { id: string; name: string };
  seriesCount: number;
  instanceCount: number;
  status: string;
  updated: boolean;
  receivedAt: { first: string; last: string };
  storedAt: { first: string; last: string };
  completedAt: string | null;
}
interface ListBody {
  studies: StudyItem[];
  nextCursor: string | null;
}
interface Version {
  version: number;
  current: boolean;
  objectId: string;
  plainBytes: number;
  objectBytes: number;
  sha256: string;
  objectSha256: string;
  transferSyntaxUid: string;
  receivedAt: string;
  storedAt: string;
}
interface DetailBody extends StudyItem {
  series: {
    seriesInstanceUid: string;
    modality: string | null;
    seriesNumber: string | null;
    instanceCount: number;
    instances: { sopInstanceUid: string; instanceNumber: number | null; versions: Version[] }[];
  }[];
  timeline: {
    receivedAt: { first: string; last: string };
    storedAt: { first: string; last: string };
    completedAt: string | null;
    events: { kind: string; at: string; detail: Record<string, unknown> }[];
  };
}

describe.each(BACKENDS)('studies routes (%s)', (backend) => {
  let t: TestApp;
  let w: Worklist;

  beforeAll(async () => {
    t = await createTestApp(backend);
    w = await seedWorklist(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const list = (query = '', token = w.a.reader.token) =>
    t.request<ListBody>('GET', `/api/v1/studies${query}`, { token });
  const uidsOf = async (query: string, token?: string): Promise<string[]> => {
    const res = await list(query, token);
    expect(res.status, res.text).toBe(200);
    return res.body.studies.map((s) => s.studyInstanceUid);
  };
  const uid = (...studies: SeededStudy[]) => studies.map((s) => s.studyUid);
  const q = (s: string) => `?q=${encodeURIComponent(s)}`;

  /** The raw response (for binary bodies). */
  const raw = (path: string, token: string) => getRaw(t, path, { token });

  describe('worklist', () => {
    it("lists the group's studies, latest received first, with their summary", async () => {
      const res = await list();
      expect(res.status, res.text).toBe(200);
      expect(res.body.studies.map((s) => s.studyInstanceUid)).toEqual(uid(w.obrien, w.doe, w.mueller));
      expect(res.body.nextCursor).toBeNull();
      expect(res.text).not.toContain(w.other.studyUid);
      const m = res.body.studies.find((s) => s.studyInstanceUid === w.mueller.studyUid)!;
      expect(m).toMatchObject({
        patient: { name: 'MÜLLER^Zoë', id: 'PID-001' },
        studyDate: '20240105',
        description: 'Chest CT',
        accessionNumber: 'ACC-1',
        modalities: ['CT'],
        facility: { id: w.facilities.a1.facilityId, name: w.facilities.a1.name },
        seriesCount: 1,
        instanceCount: 2,
        status: 'receiving',
        updated: true,
        receivedAt: { first: '2024-03-01T10:00:01.000Z', last: '2024-03-01T10:05:00.000Z' },
        completedAt: null,
      });
      expect(Date.parse(m.storedAt.first)).toBeLessThanOrEqual(Date.parse(m.storedAt.last));
      // Admins see the same list; group B sees only its own.
      expect(await uidsOf('', w.a.admin.token)).toEqual(uid(w.obrien, w.doe, w.mueller));
      expect(await uidsOf('', w.b.reader.token)).toEqual([w.other.studyUid]);
    });

    it('filters by facility, modality, study date (DICOM or ISO) and status', async () => {
      expect(await uidsOf(`?facilityId=${w.facilities.a2.facilityId}`)).toEqual(uid(w.obrien));
      expect(await uidsOf(`?facilityId=${w.facilities.b.facilityId}`)).toEqual([]);
      expect(await uidsOf('?modality=MR')).toEqual(uid(w.obrien, w.doe));
      expect(await uidsOf('?modality=CT')).toEqual(uid(w.mueller));
      expect(await uidsOf('?dateFrom=20240101')).toEqual(uid(w.doe, w.mueller));
      expect(await uidsOf('?dateTo=2023-12-31')).toEqual(uid(w.obrien));
      expect(await uidsOf('?dateFrom=2024-01-01&dateTo=20240131')).toEqual(uid(w.mueller));
      expect(await uidsOf('?status=updated')).toEqual(uid(w.mueller));
      expect(await uidsOf('?status=complete')).toEqual([]);
      expect(await uidsOf('?status=receiving&modality=MR&facilityId=' + w.facilities.a1.facilityId)).toEqual(
        uid(w.doe),
      );
      expectError(await list('?dateFrom=2024-13-01'), 400, 'request.invalid');
      expectError(await list('?dateFrom=yesterday'), 400, 'request.invalid');
      expectError(await list('?status=lost'), 400, 'request.invalid');
      expectError(await list('?facilityId=nope'), 400, 'request.invalid');
    });

    it('finds patients by name, any word of the name, or id prefix, ignoring case and accents', async () => {
      expect(await uidsOf(q('mull'))).toEqual(uid(w.mueller));
      expect(await uidsOf(q('MÜLL'))).toEqual(uid(w.mueller));
      expect(await uidsOf(q('zoe'))).toEqual(uid(w.mueller));
      expect(await uidsOf(q('Zoë'))).toEqual(uid(w.mueller));
      expect(await uidsOf(q('doe^j'))).toEqual(uid(w.doe));
      expect(await uidsOf(q('Doe J'))).toEqual(uid(w.doe));
      expect(await uidsOf(q('john'))).toEqual(uid(w.doe));
      expect(await uidsOf(q("o'b"))).toEqual(uid(w.obrien));
      expect(await uidsOf(q('pid-00'))).toEqual(uid(w.obrien, w.mueller));
      expect(await uidsOf(q('PID-001'))).toEqual(uid(w.mueller));
      // Group B's DOE^JANE stays out of group A's search.
      expect(await uidsOf(q('jane'))).toEqual([]);
      expect(await uidsOf(q('doe'))).toEqual(uid(w.doe));
      expect(await uidsOf(q('ohn'))).toEqual([]);
    });

    it('treats SQL and LIKE wildcards in the search as plain characters', async () => {
      expect(await uidsOf(q("'; drop table studies; --"))).toEqual([]);
      expect(await uidsOf(q("doe' or '1'='1"))).toEqual([]);
      expect(await uidsOf(q('%'))).toEqual([]);
      expect(await uidsOf(q('_'))).toEqual([]);
      expect(await uidsOf(q('%doe'))).toEqual([]);
      expect(await uidsOf(q('x_'))).toEqual([]);
      expect(await uidsOf(q('\\'))).toEqual([]);
      // The literal characters still match where they are: patient id X%_1.
      expect(await uidsOf(q('x%'))).toEqual(uid(w.doe));
      expect(await uidsOf(q('x%_1'))).toEqual(uid(w.doe));
      expectError(await list(`?modality=${encodeURIComponent("CT' or 1=1 --")}`), 400, 'request.invalid');
      // The table is still there and whole.
      expect(await uidsOf('')).toEqual(uid(w.obrien, w.doe, w.mueller));
    });

    it('sorts by study date and by patient name, both ways', async () => {
      expect(await uidsOf('?sort=studyDate')).toEqual(uid(w.doe, w.mueller, w.obrien));
      expect(await uidsOf('?sort=studyDate&order=asc')).toEqual(uid(w.obrien, w.mueller, w.doe));
      expect(await uidsOf('?sort=patientName')).toEqual(uid(w.doe, w.mueller, w.obrien));
      expect(await uidsOf('?sort=patientName&order=desc')).toEqual(uid(w.obrien, w.mueller, w.doe));
      expect(await uidsOf('?sort=receivedAt&order=asc')).toEqual(uid(w.mueller, w.doe, w.obrien));
    });

    it('pages with an opaque cursor, neither skipping nor repeating', async () => {
      for (const sort of ['receivedAt', 'studyDate', 'patientName']) {
        for (const order of ['asc', 'desc']) {
          const all = await uidsOf(`?sort=${sort}&order=${order}`);
          const paged: string[] = [];
          let cursor: string | null = null;
          for (let page = 0; page < 10; page++) {
            const res: Awaited<ReturnType<typeof list>> = await list(
              `?sort=${sort}&order=${order}&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
            );
            expect(res.status, res.text).toBe(200);
            paged.push(...res.body.studies.map((s) => s.studyInstanceUid));
            cursor = res.body.nextCursor;
            if (!cursor) break;
            expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
          }
          expect(paged, `${sort} ${order}`).toEqual(all);
        }
      }
      const two = await list('?limit=2');
      expect(two.body.studies).toHaveLength(2);
      const rest = await list(`?limit=2&cursor=${two.body.nextCursor}`);
      expect(rest.body.studies.map((s) => s.studyInstanceUid)).toEqual(uid(w.mueller));
      expect(rest.body.nextCursor).toBeNull();
    });

    it('refuses a cursor made for another sort, a forged cursor, and a limit over 200', async () => {
      const first = await list('?limit=1');
      const cursor = first.body.nextCursor!;
      expectError(await list(`?sort=studyDate&limit=1&cursor=${cursor}`), 400, 'request.invalid');
      expectError(await list(`?order=asc&limit=1&cursor=${cursor}`), 400, 'request.invalid');
      expectError(await list('?cursor=not-a-cursor'), 400, 'request.invalid');
      const forged = Buffer.from(
        JSON.stringify(['receivedAt', 'desc', "'; drop table studies; --", 'x']),
      ).toString('base64url');
      expectError(await list(`?cursor=${forged}`), 400, 'request.invalid');
      const badTime = Buffer.from(
        JSON.stringify(['receivedAt', 'desc', 'not a time', '00000000-0000-4000-8000-000000000000']),
      ).toString('base64url');
      expectError(await list(`?cursor=${badTime}`), 400, 'request.invalid');
      expectError(await list('?limit=201'), 400, 'request.invalid');
      expectError(await list('?limit=0'), 400, 'request.invalid');
    });
  });

  describe('study detail', () => {
    it('shows series, instances with every stored version, and the timeline', async () => {
      const res = await t.request<DetailBody>('GET', `/api/v1/studies/${w.mueller.studyUid}`, {
        token: w.a.reader.token,
      });
      expect(res.status, res.text).toBe(200);
      const d = res.body;
      expect(d).toMatchObject({ studyInstanceUid: w.mueller.studyUid, instanceCount: 2, updated: true });
      expect(d.series).toHaveLength(1);
      const s = d.series[0]!;
      expect(s).toMatchObject({
        seriesInstanceUid: w.mueller.seriesUid,
        modality: 'CT',
        seriesNumber: '1',
        instanceCount: 2,
      });
      expect(s.instances.map((i) => i.instanceNumber)).toEqual([1, 2]);
      const [v2, v1] = s.instances[0]!.versions;
      const [old, resent] = [w.mueller.all[0]!, w.mueller.current[0]!];
      expect(v2).toMatchObject({
        version: 2,
        current: true,
        objectId: resent.sealed.objectId,
        sha256: resent.sealed.sha256,
        objectSha256: resent.sealed.objectSha256,
        plainBytes: resent.sealed.plainBytes,
        objectBytes: resent.sealed.objectBytes,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        receivedAt: '2024-03-01T10:05:00.000Z',
      });
      expect(v1).toMatchObject({
        version: 1,
        current: false,
        objectId: old.sealed.objectId,
        sha256: old.sealed.sha256,
      });
      expect(s.instances[1]!.versions.map((v) => [v.version, v.current])).toEqual([[1, true]]);
      expect(d.timeline.receivedAt).toEqual({
        first: '2024-03-01T10:00:01.000Z',
        last: '2024-03-01T10:05:00.000Z',
      });
      expect(d.timeline.events.map((e) => e.kind)).toEqual(['created', 'new_version']);
      expect(d.timeline.events[1]!.detail).toMatchObject({
        version: 2,
        sopInstanceUid: resent.sealed.manifest.sopInstanceUid,
      });
      const ats = d.timeline.events.map((e) => Date.parse(e.at));
      expect([...ats].sort((x, y) => x - y)).toEqual(ats);
    });

    it("answers 404 resource.not_found for another group's study and for an unknown one, never 403", async () => {
      const path = (s: string) => `/api/v1/studies/${s}`;
      expectError(
        await t.request('GET', path(w.other.studyUid), { token: w.a.reader.token }),
        404,
        'resource.not_found',
      );
      expectError(
        await t.request('GET', path(w.other.studyUid), { token: w.a.admin.token }),
        404,
        'resource.not_found',
      );
      expectError(
        await t.request('GET', path(w.mueller.studyUid), { token: w.b.admin.token }),
        404,
        'resource.not_found',
      );
      expectError(
        await t.request('GET', path(newTestUid()), { token: w.a.reader.token }),
        404,
        'resource.not_found',
      );
      expectError(
        await t.request('GET', path('1.2.3%27%3B--'), { token: w.a.reader.token }),
        400,
        'request.invalid',
      );
      expectError(
        await t.request('GET', path('1'.repeat(65)), { token: w.a.reader.token }),
        400,
        'request.invalid',
      );
    });
  });

  describe('download', () => {
    it("streams a zip of the study's current Part-10 files, and audits it", async () => {
      const res = await raw(`/api/v1/studies/${w.mueller.studyUid}/download`, w.a.reader.token);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/zip');
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="study-${w.mueller.studyUid}.zip"`,
      );
      expect(res.headers.get('cache-control')).toBe('no-store');
      const zip = Buffer.from(await res.arrayBuffer());
      const { entries } = readZip(zip);
      expect(entries.map((e) => e.name)).toEqual(['1/1.dcm', '1/2.dcm']);
      expect(entries.every((e) => e.method === 0)).toBe(true);
      // The current version of instance 1 (the resent one), byte for byte.
      expect(entries[0]!.bytes.equals(w.mueller.current[0]!.sealed.plaintext)).toBe(true);
      expect(entries[1]!.bytes.equals(w.mueller.current[1]!.sealed.plaintext)).toBe(true);
      expect(entries[0]!.bytes.equals(w.mueller.all[0]!.sealed.plaintext)).toBe(false);
      if (existsSync('/usr/bin/unzip')) {
        const dir = await mkdtemp(join(tmpdir(), 'ferry-download-'));
        try {
          await writeFile(join(dir, 'study.zip'), zip);
          expect(execFileSync('unzip', ['-l', join(dir, 'study.zip')]).toString()).toMatch(
            /1\/1\.dcm[\s\S]*1\/2\.dcm/,
          );
          const one = execFileSync('unzip', ['-p', join(dir, 'study.zip'), '1/2.dcm']);
          expect(one.equals(w.mueller.current[1]!.sealed.plaintext)).toBe(true);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
      const audited = await t.database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'study.download'), eq(auditLog.groupId, w.a.groupId)));
      expect(audited.length).toBeGreaterThanOrEqual(1);
      expect(audited[0]).toMatchObject({ actorType: 'user', actorId: w.a.reader.id, targetType: 'study' });
    });

    it('names files by UID when numbers are missing and keeps names inside the archive', async () => {
      const res = await raw(`/api/v1/studies/${w.obrien.studyUid}/download`, w.a.admin.token);
      expect(res.status).toBe(200);
      const { entries } = readZip(Buffer.from(await res.arrayBuffer()));
      expect(entries).toHaveLength(1);
      expect(entries[0]!.name).toMatch(/^[0-9A-Za-z._-]+\/[0-9A-Za-z._-]+\.dcm$/);
      expect(entries[0]!.bytes.equals(w.obrien.current[0]!.sealed.plaintext)).toBe(true);
    });

    it("answers 404 for another group's study", async () => {
      const res = await t.request('GET', `/api/v1/studies/${w.other.studyUid}/download`, {
        token: w.a.reader.token,
      });
      expectError(res, 404, 'resource.not_found');
    });

    it('aborts the transfer, not ends it, when a stored object fails to open midway', async () => {
      const victim = w.doe.current[0]!;
      await withTamperedBlob(t, victim, async () => {
        const res = await raw(`/api/v1/studies/${w.doe.studyUid}/download`, w.a.reader.token);
        expect(res.status).toBe(200);
        await expect(res.arrayBuffer()).rejects.toThrow();
      });
      const again = await raw(`/api/v1/studies/${w.doe.studyUid}/download`, w.a.reader.token);
      expect(
        readZip(Buffer.from(await again.arrayBuffer())).entries[0]!.bytes.equals(victim.sealed.plaintext),
      ).toBe(true);
    });
  });
});

describe.each(BACKENDS)('studies routes security (%s)', (backend) => {
  const resourceOfGroup = (t: TestApp, g: Parameters<typeof seedOneStudy>[1]) => seedOneStudy(t, g);
  runCommonRouteTests(backend, { method: 'GET', path: '/api/v1/studies', caller: 'user', resourceOfGroup });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/studies/${ids.studyUid}`,
    caller: 'user',
    resourceOfGroup,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/studies/${ids.studyUid}/download`,
    caller: 'user',
    resourceOfGroup,
  });
});
