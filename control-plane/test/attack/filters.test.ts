/**
 * SQL metacharacters, LIKE wildcards, NUL and odd unicode in every filter a caller controls: the
 * worklist API, QIDO-RS, the audit log, and the console's worklist, audit and fleet pages. Every answer
 * is 200 without another group's rows, or 400 with a code; never a 500. User text is matched
 * literally: `%` and `_` are not wildcards (QIDO's own `*` and `?` are).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeak } from '../../../testkit/control-plane/attack.js';
import {
  BACKENDS,
  createTestApp,
  type RequestOptions,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestResponse,
} from '../../../testkit/control-plane/harness.js';
import { newTestUid, seedTestInstance } from '../../../testkit/control-plane/seal-object.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';

function htmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const HOSTILE = [
  "' OR 1=1 --",
  "'; DROP TABLE studies; --",
  '"; DROP TABLE users; --',
  '%',
  '%%',
  '_',
  '\\',
  '\\%',
  '*',
  '?',
  'a\u0000b',
  '\u0000',
  '\u202e\u0301\ufeff',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'x'.repeat(300),
  '1) UNION SELECT email, password_hash FROM users --',
];

const SAMPLE = ["' OR 1=1 --", '%', '_', '\\', 'a\u0000b', '\u202e\u0301\ufeff'];

const STUDY_KEYS = [
  'q',
  'modality',
  'dateFrom',
  'dateTo',
  'status',
  'sort',
  'order',
  'cursor',
  'facilityId',
  'limit',
];
const QIDO_KEYS = [
  'PatientName',
  'PatientID',
  'AccessionNumber',
  'StudyDescription',
  'ReferringPhysicianName',
  'StudyDate',
  'ModalitiesInStudy',
  'StudyInstanceUID',
  '00100010',
  'limit',
  'offset',
  'includefield',
  'fuzzymatching',
];
const AUDIT_KEYS = ['action', 'limit', 'before'];

describe.each(BACKENDS)('hostile filters (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  /** Study UIDs of group B: none may show up in an answer to A. */
  const bUids: string[] = [];
  const aUids: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Filters A');
    b = await t.seedGroup('Filters B');
    // One study per patient name: the study UIDs by name.
    const seedStudies = async (group: SeededGroup, names: string[]): Promise<Record<string, string>> => {
      const { facilityId } = await seedFacility(t, group);
      const uids: Record<string, string> = {};
      for (const patientName of names) {
        const studyInstanceUid = newTestUid();
        uids[patientName] = studyInstanceUid;
        await seedTestInstance(
          t,
          { groupId: group.groupId, facilityId },
          {
            set: {
              patientName,
              studyInstanceUid,
              seriesInstanceUid: newTestUid(),
              sopInstanceUid: newTestUid(),
            },
          },
        );
      }
      return uids;
    };
    Object.assign(aUids, await seedStudies(a, ['ALPHA^ONE', 'GA_MMA^THREE', '100%^PERCENT']));
    bUids.push(...Object.values(await seedStudies(b, ['ALPHA^OTHERGROUP', 'GAXMMA^B'])));
  });
  afterAll(async () => {
    await t?.close();
  });

  /** 200 without B's rows, or 400 request.invalid; and nothing internal either way. */
  const expectSafe = (res: TestResponse<unknown>, what: string, value: string) => {
    const context = `${what} → ${res.status} ${res.text.slice(0, 300)}`;
    expect([200, 400], context).toContain(res.status);
    if (res.status === 400 && res.headers.get('content-type')?.startsWith('application/json'))
      expectError(res, 400, 'request.invalid');
    for (const uid of bUids) expect(res.text, context).not.toContain(uid);
    // A page may echo the filter back (escaped) in its form; that echo is not a leak.
    const echoes = [value, encodeURIComponent(value), htmlEscape(value)];
    const rest = echoes.reduce(
      (text, echo) => text.split(echo.toLowerCase()).join(''),
      res.text.toLowerCase(),
    );
    expect(findLeak(rest), context).toBeUndefined();
  };
  const q = (key: string, value: string) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
  /** GETs `path` with each of `keys` set to each of `values`, one filter at a time: every answer safe. */
  const expectEachSafe = async (path: string, keys: string[], values: string[], auth: RequestOptions) => {
    for (const key of keys)
      for (const value of values) {
        const res = await t.request('GET', `${path}?${q(key, value)}`, auth);
        expectSafe(res, `${path} ${key}=${JSON.stringify(value)}`, value);
      }
  };

  it('the worklist API takes hostile values in every filter', async () => {
    await expectEachSafe('/api/v1/studies', STUDY_KEYS, HOSTILE, { token: a.admin.token });
  });

  it('QIDO-RS takes hostile values in every matching key, at every level', async () => {
    const study = aUids['ALPHA^ONE'];
    // Every value at the study level; the series and instance levels share its parser, so a sample.
    const levels: [string, string[]][] = [
      ['/dicomweb/studies', HOSTILE],
      [`/dicomweb/studies/${study}/series`, SAMPLE],
      [`/dicomweb/studies/${study}/instances`, SAMPLE],
    ];
    for (const [path, values] of levels)
      await expectEachSafe(path, QIDO_KEYS, values, { token: a.reader.token });
  });

  it('the audit log API takes hostile values in every filter', async () => {
    await expectEachSafe('/api/v1/audit', AUDIT_KEYS, HOSTILE, { token: a.admin.token });
  });

  it("the console's worklist, audit and fleet pages take hostile filters as pages, never a 500", async () => {
    const pages: [string, string[]][] = [
      ['/worklist', ['q', 'modality', 'dateFrom', 'dateTo', 'status', 'sort', 'order', 'cursor', 'facility']],
      ['/audit', ['action', 'targetType', 'from', 'to', 'before']],
      ['/fleet', ['status', 'facility', 'revoked']],
    ];
    const session = { headers: { cookie: `ferry_session=${a.admin.token}` } };
    for (const [page, keys] of pages) await expectEachSafe(page, keys, HOSTILE, session);
  });

  // Regression: a NUL byte passed every schema and PostgreSQL refused it: 500 internal.unexpected.
  it('answers NUL in a filter or a body with 400 request.invalid naming the character', async () => {
    const cases: [string, string, unknown?][] = [
      ['GET', '/api/v1/studies?q=a%00b'],
      ['GET', '/api/v1/audit?action=x%00'],
      ['GET', '/dicomweb/studies?PatientName=A%00*'],
      ['GET', '/dicomweb/studies?PatientID=%00'],
      ['POST', '/api/v1/facilities', { name: 'N\u0000L', aeTitle: 'NULTEST' }],
      ['POST', '/api/v1/auth/login', { email: 'a\u0000@b.c', password: 'x' }],
    ];
    for (const [method, path, body] of cases) {
      const res = await t.request(method, path, { token: a.admin.token, ...(body ? { body } : {}) });
      expect(expectError(res, 400, 'request.invalid').error.message, path).toMatch(/NUL/);
    }
  });

  it('matches % and _ literally in the worklist search, and QIDO wildcards only as * and ?', async () => {
    const worklist = async (text: string) => {
      const res = await t.request<{ studies: { studyInstanceUid: string }[] }>(
        'GET',
        `/api/v1/studies?${q('q', text)}`,
        { token: a.admin.token },
      );
      expect(res.status, res.text).toBe(200);
      return res.body.studies.map((s) => s.studyInstanceUid).sort();
    };
    expect(await worklist('%')).toEqual([]);
    expect(await worklist('_')).toEqual([]);
    expect(await worklist('100%')).toEqual([aUids['100%^PERCENT']]);
    expect(await worklist('ga_')).toEqual([aUids['GA_MMA^THREE']]);
    expect(await worklist('g_')).toEqual([]);

    const qido = async (name: string) => {
      const res = await t.request<Record<string, { Value?: string[] }>[]>(
        'GET',
        `/dicomweb/studies?${q('PatientName', name)}`,
        { token: a.reader.token },
      );
      expect(res.status, res.text).toBe(200);
      return (Array.isArray(res.body) ? res.body : []).map((s) => s['0020000D']?.Value?.[0]).sort();
    };
    expect(await qido('%')).toEqual([]);
    expect(await qido('%*')).toEqual([]);
    expect(await qido('G_*')).toEqual([]);
    expect(await qido('GA_*')).toEqual([aUids['GA_MMA^THREE']]);
    expect(await qido('G?_*')).toEqual([aUids['GA_MMA^THREE']]);
    expect(await qido('*')).toEqual(Object.values(aUids).sort());
  });
});
