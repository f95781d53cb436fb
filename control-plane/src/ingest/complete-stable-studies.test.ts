import { isFerryError, type UploadOfferResponse } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { newTestUid, seedTestInstance } from '../../../testkit/control-plane/seal-object.js';
import { type Ctx, systemCtx } from '../context.js';
import { studies, studyEvents, uploads } from '../db/schema/index.js';
import { startStudyCompletion } from '../jobs/study-completion.js';
import { ABANDONED_UPLOAD_SECONDS, completeStableStudies } from './complete-stable-studies.js';

const log = pino({ level: 'silent' });
const at = (iso: string) => new Date(iso);
const plus = (d: Date, seconds: number) => new Date(d.getTime() + seconds * 1000);

interface FacilityBody {
  id: string;
  stablePeriodSeconds: number;
}

describe.each(BACKENDS)('study completion (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let facilityId: string;
  let gw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Completion group');
    const res = await t.request<FacilityBody>('POST', '/api/v1/facilities', {
      token: g.admin.token,
      body: { name: 'Stable', aeTitle: 'STABLE', stablePeriodSeconds: 30 },
    });
    expect(res.status, res.text).toBe(201);
    facilityId = res.body.id;
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
  });
  afterAll(async () => {
    await t?.close();
  });

  const system = () => systemCtx(t.database.db, log, 'r');
  const where = () => ({ groupId: g.groupId, facilityId, gatewayId: gw.gatewayId });

  /** A study with one instance received and stored at the given times. */
  async function study(receivedAt: string, storedAt = receivedAt) {
    const uid = newTestUid();
    const { recorded } = await seedTestInstance(t, where(), {
      set: { studyInstanceUid: uid, sopInstanceUid: newTestUid() },
      receivedAt,
      storedAt: at(storedAt),
    });
    return { uid, id: recorded.studyId };
  }
  const row = async (id: string) =>
    (await t.database.db.select().from(studies).where(eq(studies.id, id)))[0]!;
  const eventsOf = async (id: string) =>
    (await t.database.db.select().from(studyEvents).where(eq(studyEvents.studyId, id))).map((e) => e.kind);
  const run = (now: Date) => completeStableStudies({ ctx: system(), input: { now } });

  it('exposes stablePeriodSeconds in the facilities API, 1 to 86400, default 60', async () => {
    const created = await t.request<FacilityBody>('POST', '/api/v1/facilities', {
      token: g.admin.token,
      body: { name: 'Default period', aeTitle: 'DEFPER' },
    });
    expect(created.body.stablePeriodSeconds).toBe(60);
    const patched = await t.request<FacilityBody>('PATCH', `/api/v1/facilities/${created.body.id}`, {
      token: g.admin.token,
      body: { stablePeriodSeconds: 2 },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.stablePeriodSeconds).toBe(2);
    const read = await t.request<FacilityBody>('GET', `/api/v1/facilities/${created.body.id}`, {
      token: g.reader.token,
    });
    expect(read.body.stablePeriodSeconds).toBe(2);
    for (const bad of [0, 86_401, 1.5]) {
      const res = await t.request('PATCH', `/api/v1/facilities/${created.body.id}`, {
        token: g.admin.token,
        body: { stablePeriodSeconds: bad },
      });
      expect(res.status, `${bad}: ${res.text}`).toBe(400);
    }
    const audit = await t.request<{ entries: { action: string; details: Record<string, unknown> | null }[] }>(
      'GET',
      '/api/v1/audit',
      { token: g.admin.token },
    );
    expect(JSON.stringify(audit.body)).toContain('stablePeriodSeconds');
  });

  it('completes a study once the stable period has passed since its last instance, once', async () => {
    const s = await study('2026-11-28T10:00:00.000Z');
    expect((await run(at('2026-11-28T10:00:29.000Z'))).completed.map((c) => c.studyId)).not.toContain(s.id);
    expect((await row(s.id)).status).toBe('receiving');
    const done = await run(at('2026-11-28T10:00:30.000Z'));
    expect(done.completed).toContainEqual({ studyId: s.id, groupId: g.groupId });
    expect(await row(s.id)).toMatchObject({
      status: 'complete',
      completedAt: at('2026-11-28T10:00:30.000Z'),
    });
    expect(await eventsOf(s.id)).toEqual(['created', 'completed']);
    // Idempotent: a second run (another replica, say) changes nothing.
    expect((await run(at('2026-11-28T10:05:00.000Z'))).completed.map((c) => c.studyId)).not.toContain(s.id);
    expect(await eventsOf(s.id)).toEqual(['created', 'completed']);
  });

  it('counts from when the last instance was stored, for studies shipped from a backlog', async () => {
    const s = await study('2026-11-28T08:00:00.000Z', '2026-11-28T11:00:00.000Z');
    await run(at('2026-11-28T11:00:10.000Z'));
    expect((await row(s.id)).status).toBe('receiving');
    await run(at('2026-11-28T11:00:31.000Z'));
    expect((await row(s.id)).status).toBe('complete');
  });

  it('waits while an upload of the study is open, unless it has been abandoned', async () => {
    const s = await study('2026-11-28T12:00:00.000Z');
    const res = await t.request<UploadOfferResponse>('POST', '/api/v1/agents/uploads', {
      token: await gw.token(),
      body: {
        objects: [
          {
            objectId: 'topen0000000000000000001',
            sopInstanceUid: newTestUid(),
            studyInstanceUid: s.uid,
            sha256: 'c'.repeat(64),
            plainBytes: 10,
            objectBytes: 100,
            receivedAt: '2026-11-28T12:00:01.000Z',
          },
        ],
      },
    });
    expect(res.body.objects[0]?.status).toBe('upload');
    const offeredAt = at('2026-11-28T12:00:02.000Z');
    await t.database.db
      .update(uploads)
      .set({ lastOfferedAt: offeredAt })
      .where(and(eq(uploads.groupId, g.groupId), eq(uploads.studyInstanceUid, s.uid)));
    await run(at('2026-11-28T12:05:00.000Z'));
    expect((await row(s.id)).status).toBe('receiving');
    await run(plus(offeredAt, ABANDONED_UPLOAD_SECONDS + 1));
    expect((await row(s.id)).status).toBe('complete');
  });

  it('is for the system only', async () => {
    const as = (actor: Ctx['actor']) => completeStableStudies({ ctx: { ...system(), actor } });
    await expect(
      as({ kind: 'agent', gatewayId: gw.gatewayId, groupId: g.groupId, facilityId }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'auth.forbidden'));
    await expect(
      as({ kind: 'user', userId: g.admin.id, groupId: g.groupId, role: 'admin', isOperator: true }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'auth.forbidden'));
  });

  if (backend === 'postgres')
    it('completes each study once when replicas run at the same time', async () => {
      const made = await Promise.all([1, 2, 3, 4, 5].map(() => study('2026-11-28T13:00:00.000Z')));
      const now = at('2026-11-28T13:10:00.000Z');
      const runs = await Promise.all([run(now), run(now), run(now)]);
      const completed = runs
        .flatMap((r) => r.completed.map((c) => c.studyId))
        .filter((id) => made.some((m) => m.id === id));
      expect(completed.sort()).toEqual(made.map((m) => m.id).sort());
      for (const m of made) expect(await eventsOf(m.id)).toEqual(['created', 'completed']);
    });

  it('runs on a timer: a study stored now completes about one stable period later', async () => {
    await t.request('PATCH', `/api/v1/facilities/${facilityId}`, {
      token: g.admin.token,
      body: { stablePeriodSeconds: 1 },
    });
    const now = new Date().toISOString();
    const s = await study(now);
    const job = startStudyCompletion({ db: t.database.db, log, intervalMs: 100 });
    try {
      const deadline = Date.now() + 10_000;
      while ((await row(s.id)).status !== 'complete' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await row(s.id)).status).toBe('complete');
    } finally {
      await job.stop();
    }
    await t.request('PATCH', `/api/v1/facilities/${facilityId}`, {
      token: g.admin.token,
      body: { stablePeriodSeconds: 30 },
    });
  });
});
