import { isFerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../context.js';
import { instances, series, studies, studyEvents } from '../db/schema/index.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../testing/harness.js';
import {
  newTestUid,
  type SealedTestObject,
  sealTestObject,
  seedTestInstance,
} from '../testing/seal-object.js';
import { patientSearchKey } from './patient-search.js';
import { type RecordInstanceInput, recordInstance } from './record-instance.js';

const log = pino({ level: 'silent' });

describe('patientSearchKey', () => {
  it('lower-cases, strips accents and turns DICOM separators into single spaces', () => {
    expect(patientSearchKey('MÜLLER^Zoë^^^')).toBe('muller zoe');
    expect(patientSearchKey('  Ñúñez^José  María ')).toBe('nunez jose maria');
    expect(patientSearchKey('ÅSTRÖM^ÇA')).toBe('astrom ca');
    expect(patientSearchKey(undefined)).toBe('');
    expect(patientSearchKey('ID-0042')).toBe('id-0042');
  });
});

describe.each(BACKENDS)('recordInstance (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let facilityId: string;
  let gw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Index group');
    ({ facilityId } = await seedFacility(t, g));
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
  });
  afterAll(async () => {
    await t?.close();
  });

  const where = () => ({ groupId: g.groupId, facilityId, gatewayId: gw.gatewayId });
  const systemCtx = (): Ctx => ({
    db: t.database.db,
    actor: { kind: 'system' },
    requestId: 'r',
    ip: undefined,
    log,
  });
  const inputOf = (s: SealedTestObject, storedAt = new Date()): RecordInstanceInput => ({
    ...where(),
    objectId: s.objectId,
    blobKey: `g/${g.groupId}/o/${s.objectId}.fobj`,
    manifest: s.manifest,
    metadata: s.metadata,
    sha256: s.sha256,
    objectSha256: s.objectSha256,
    plainBytes: s.plainBytes,
    objectBytes: s.objectBytes,
    storedAt,
  });
  const studyRow = async (uid: string) =>
    (
      await t.database.db
        .select()
        .from(studies)
        .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, uid)))
    )[0];
  const eventsOf = async (studyId: string) =>
    (await t.database.db.select().from(studyEvents).where(eq(studyEvents.studyId, studyId))).map(
      (e) => e.kind,
    );

  it('creates the study, series and instance from the manifest, with search keys and a created event', async () => {
    const studyUid = newTestUid();
    const { sealed, recorded } = await seedTestInstance(t, where(), {
      sample: 'CT_small.dcm',
      set: { studyInstanceUid: studyUid, patientName: 'MÜLLER^Zoë', patientId: 'PID-Ä1' },
      receivedAt: '2026-11-28T10:00:00.000Z',
    });
    expect(recorded).toMatchObject({ created: true, studyCreated: true, version: 1, newVersion: false });
    expect(recorded.receipt).toMatchObject({
      objectId: sealed.objectId,
      sha256: sealed.sha256,
      objectSha256: sealed.objectSha256,
      duplicate: false,
    });
    const study = await studyRow(studyUid);
    expect(study).toMatchObject({
      facilityId,
      patientName: 'MÜLLER^Zoë',
      patientNameSearch: 'muller zoe',
      patientIdSearch: 'pid-a1',
      status: 'receiving',
      updated: false,
      instanceCount: 1,
      seriesCount: 1,
      modalities: ['CT'],
    });
    expect(study?.lastReceivedAt.toISOString()).toBe('2026-11-28T10:00:00.000Z');
    expect(await eventsOf(study!.id)).toEqual(['created']);
    const [inst] = await t.database.db.select().from(instances).where(eq(instances.id, recorded.instanceId));
    expect(inst).toMatchObject({
      current: true,
      version: 1,
      gatewayId: gw.gatewayId,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
    });
    expect((inst!.metadata as Record<string, { Value?: unknown[] }>)['0020000D']?.Value).toEqual([studyUid]);
  });

  it('counts series, instances and sorted modalities; receivedAt bounds move both ways', async () => {
    const studyUid = newTestUid();
    const seriesA = newTestUid();
    await seedTestInstance(t, where(), {
      set: {
        studyInstanceUid: studyUid,
        seriesInstanceUid: seriesA,
        sopInstanceUid: newTestUid(),
        modality: 'MR',
      },
      receivedAt: '2026-11-28T10:00:05.000Z',
    });
    await seedTestInstance(t, where(), {
      set: {
        studyInstanceUid: studyUid,
        seriesInstanceUid: seriesA,
        sopInstanceUid: newTestUid(),
        modality: 'MR',
      },
      receivedAt: '2026-11-28T10:00:01.000Z',
    });
    await seedTestInstance(t, where(), {
      set: {
        studyInstanceUid: studyUid,
        seriesInstanceUid: newTestUid(),
        sopInstanceUid: newTestUid(),
        modality: 'CT',
      },
      receivedAt: '2026-11-28T10:00:03.000Z',
    });
    const study = await studyRow(studyUid);
    expect(study).toMatchObject({ instanceCount: 3, seriesCount: 2, modalities: ['CT', 'MR'] });
    expect(study?.firstReceivedAt.toISOString()).toBe('2026-11-28T10:00:01.000Z');
    expect(study?.lastReceivedAt.toISOString()).toBe('2026-11-28T10:00:05.000Z');
    const rows = await t.database.db.select().from(series).where(eq(series.studyId, study!.id));
    expect(rows.map((r) => r.instanceCount).sort()).toEqual([1, 2]);
  });

  it('answers the same SOP Instance UID and hash as a duplicate, writing nothing', async () => {
    const studyUid = newTestUid();
    const sop = newTestUid();
    const first = await sealTestObject({
      recipientPublicKey: t.deps.recipientPublicKey,
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
    });
    // The same plaintext sealed again under another object id (the agent lost its spool index, say).
    const again = await sealTestObject({
      recipientPublicKey: t.deps.recipientPublicKey,
      part10: first.plaintext,
    });
    const a = await recordInstance({ ctx: systemCtx(), input: inputOf(first) });
    const b = await recordInstance({ ctx: systemCtx(), input: inputOf(again) });
    const c = await recordInstance({ ctx: systemCtx(), input: inputOf(first) });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, instanceId: a.instanceId });
    expect(b.receipt).toMatchObject({
      objectId: again.objectId,
      duplicate: true,
      objectSha256: first.objectSha256,
    });
    expect(c).toMatchObject({ created: false, receipt: { duplicate: false } });
    const rows = await t.database.db
      .select()
      .from(instances)
      .where(and(eq(instances.groupId, g.groupId), eq(instances.sopInstanceUid, sop)));
    expect(rows).toHaveLength(1);
    expect((await studyRow(studyUid))?.instanceCount).toBe(1);
  });

  it('keeps a resend with other bytes as a new current version and flags the study', async () => {
    const studyUid = newTestUid();
    const sop = newTestUid();
    const v1 = await seedTestInstance(t, where(), {
      sample: 'MR_small.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
    });
    const v2 = await seedTestInstance(t, where(), {
      sample: 'MR_small_padded.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
    });
    expect(v2.sealed.sha256).not.toBe(v1.sealed.sha256);
    expect(v2.recorded).toMatchObject({ created: true, version: 2, newVersion: true });
    const rows = await t.database.db
      .select({ version: instances.version, current: instances.current })
      .from(instances)
      .where(and(eq(instances.groupId, g.groupId), eq(instances.sopInstanceUid, sop)))
      .orderBy(instances.version);
    expect(rows).toEqual([
      { version: 1, current: false },
      { version: 2, current: true },
    ]);
    const study = await studyRow(studyUid);
    expect(study).toMatchObject({ updated: true, instanceCount: 1, seriesCount: 1 });
    expect(await eventsOf(study!.id)).toEqual(expect.arrayContaining(['created', 'new_version']));
  });

  it('reopens a complete study that gets a new instance', async () => {
    const studyUid = newTestUid();
    const first = await seedTestInstance(t, where(), {
      set: { studyInstanceUid: studyUid, sopInstanceUid: newTestUid() },
    });
    await t.database.db
      .update(studies)
      .set({ status: 'complete', completedAt: new Date() })
      .where(eq(studies.id, first.recorded.studyId));
    const second = await seedTestInstance(t, where(), {
      set: { studyInstanceUid: studyUid, sopInstanceUid: newTestUid() },
    });
    expect(second.recorded).toMatchObject({ reopened: true, studyCreated: false });
    const study = await studyRow(studyUid);
    expect(study).toMatchObject({ status: 'receiving', updated: true, completedAt: null, instanceCount: 2 });
    expect(await eventsOf(study!.id)).toEqual(expect.arrayContaining(['created', 'reopened']));
  });

  it('lets only the receiving gateway or the system record', async () => {
    const s = await sealTestObject({
      recipientPublicKey: t.deps.recipientPublicKey,
      set: { sopInstanceUid: newTestUid() },
    });
    const other = await t.seedGroup('Other');
    const otherGw = await enrollTestGateway(t, other);
    const as = (actor: Ctx['actor']) => recordInstance({ ctx: { ...systemCtx(), actor }, input: inputOf(s) });
    await expect(
      as({ kind: 'user', userId: g.admin.id, groupId: g.groupId, role: 'admin', isOperator: false }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'auth.forbidden'));
    await expect(
      as({
        kind: 'agent',
        gatewayId: otherGw.gatewayId,
        groupId: other.groupId,
        facilityId: otherGw.facilityId,
      }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'auth.forbidden'));
    const ok = await as({ kind: 'agent', gatewayId: gw.gatewayId, groupId: g.groupId, facilityId });
    expect(ok.created).toBe(true);
    // The system may not put an instance into a facility of another group.
    await expect(
      recordInstance({
        ctx: systemCtx(),
        input: { ...inputOf(s), objectId: 'tother0000000000001', facilityId: otherGw.facilityId },
      }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'resource.not_found'));
  });

  it('refuses an instance without a Study Instance UID anywhere', async () => {
    const s = await sealTestObject({
      recipientPublicKey: t.deps.recipientPublicKey,
      manifest: (m) => ({ ...m, study: { ...m.study, instanceUid: undefined } }),
    });
    const { '0020000D': _, ...metadata } = s.metadata;
    await expect(recordInstance({ ctx: systemCtx(), input: { ...inputOf(s), metadata } })).rejects.toSatisfy(
      (e) => isFerryError(e, 'upload.object_invalid'),
    );
  });

  it.runIf(backend === 'postgres')(
    'makes one study when instances of a new study are recorded at the same time',
    async () => {
      const studyUid = newTestUid();
      const objs = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          sealTestObject({
            recipientPublicKey: t.deps.recipientPublicKey,
            set: {
              studyInstanceUid: studyUid,
              seriesInstanceUid: i % 2 === 0 ? `${studyUid}.1` : `${studyUid}.2`,
              sopInstanceUid: newTestUid(),
            },
          }),
        ),
      );
      const results = await Promise.all(
        objs.map((o) => recordInstance({ ctx: systemCtx(), input: inputOf(o) })),
      );
      expect(new Set(results.map((r) => r.studyId)).size).toBe(1);
      expect(results.filter((r) => r.studyCreated)).toHaveLength(1);
      const rows = await t.database.db
        .select()
        .from(studies)
        .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, studyUid)));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ instanceCount: 8, seriesCount: 2 });
      expect(await eventsOf(rows[0]!.id)).toEqual(['created']);
    },
  );
});
