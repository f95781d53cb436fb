import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
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
import { facilities, studies, studyEvents } from '../db/schema/index.js';
import { startJobQueue } from './queue.js';
import { startStudyCompletionQueue } from './queue-study-completion.js';

const log = pino({ level: 'silent' });

describe.each(BACKENDS)('study completion on the job queue (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let facilityId: string;
  let gw: TestGateway;
  // Two replicas on one database: each has its queue, worker and listener.
  const replicas: { boss: PgBoss; queue: { stop(): Promise<void> } }[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Queue completion group');
    const res = await t.request<{ id: string }>('POST', '/api/v1/facilities', {
      token: g.admin.token,
      body: { name: 'Quick', aeTitle: 'QUICK', stablePeriodSeconds: 1 },
    });
    expect(res.status, res.text).toBe(201);
    facilityId = res.body.id;
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    for (let i = 0; i < 2; i++) {
      const boss = await startJobQueue({ connection: t.database.queueConnection, log });
      const queue = await startStudyCompletionQueue({ database: t.database, boss, log });
      replicas.push({ boss, queue });
    }
  });
  afterAll(async () => {
    for (const r of replicas) {
      await r.queue.stop();
      await r.boss.stop({ graceful: true, close: true });
    }
    await t?.close();
  });

  const where = () => ({ groupId: g.groupId, facilityId, gatewayId: gw.gatewayId });
  const store = async (studyUid: string) => {
    const now = new Date();
    const { recorded } = await seedTestInstance(t, where(), {
      set: { studyInstanceUid: studyUid, sopInstanceUid: newTestUid() },
      receivedAt: now.toISOString(),
      storedAt: now,
    });
    return recorded.studyId;
  };
  const row = async (id: string) =>
    (await t.database.db.select().from(studies).where(eq(studies.id, id)))[0]!;
  const eventsOf = async (id: string) =>
    (await t.database.db.select().from(studyEvents).where(eq(studyEvents.studyId, id)))
      .sort((a, b) => a.at.getTime() - b.at.getTime())
      .map((e) => e.kind);
  const completed = async (id: string) => {
    const deadline = Date.now() + 20_000;
    while ((await row(id)).status !== 'complete' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    return row(id);
  };

  it('completes a recorded study once stable, with no sweep running, once across two replicas', async () => {
    const uid = newTestUid();
    const id = await store(uid);
    const done = await completed(id);
    expect(done.status).toBe('complete');
    expect(done.completedAt!.getTime()).toBeGreaterThanOrEqual(
      Math.max(done.lastReceivedAt.getTime(), done.lastStoredAt.getTime()) + 1000,
    );
    expect(await eventsOf(id)).toEqual(['created', 'completed']);
  });

  it('reopens a complete study when more arrives, and completes it again once stable', async () => {
    const uid = newTestUid();
    const id = await store(uid);
    expect((await completed(id)).status).toBe('complete');
    await store(uid);
    const again = await completed(id);
    expect(again.status).toBe('complete');
    expect(again.instanceCount).toBe(2);
    expect(again.updated).toBe(true);
    expect(again.completedAt!.getTime()).toBeGreaterThanOrEqual(again.lastStoredAt.getTime() + 1000);
    expect(await eventsOf(id)).toEqual(['created', 'completed', 'reopened', 'completed']);
  });

  it("follows a facility's longer stable period set after the instance arrived", async () => {
    await t.database.db
      .update(facilities)
      .set({ stablePeriodSeconds: 2 })
      .where(eq(facilities.id, facilityId));
    try {
      const id = await store(newTestUid());
      const done = await completed(id);
      expect(done.completedAt!.getTime()).toBeGreaterThanOrEqual(done.lastStoredAt.getTime() + 2000);
    } finally {
      await t.database.db
        .update(facilities)
        .set({ stablePeriodSeconds: 1 })
        .where(eq(facilities.id, facilityId));
    }
  });
});
