import { randomBytes } from 'node:crypto';
import { isFerryError } from '@ferry/shared';
import { and, eq, inArray } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import {
  newTestObjectId,
  newTestUid,
  type SealedTestObject,
  sealTestObject,
  seedTestInstance,
} from '../../../testkit/control-plane/seal-object.js';
import type { Ctx } from '../context.js';
import { instances, series, studies, studyEvents } from '../db/schema/index.js';
import type { DicomJson } from '../dicom/dicom-json.js';
import { patientSearchKey } from '../dicom/patient-search.js';
import { type RecordedInstance, type RecordInstanceInput, recordInstances } from './record-instances.js';

const log = pino({ level: 'silent' });

/** A batch of one. */
async function recordInstance(args: { ctx: Ctx; input: RecordInstanceInput }) {
  const [recorded] = await recordInstances({ ...args, input: [args.input] });
  return recorded as RecordedInstance;
}

/** The fields that make an input the same instance as `of` (same SOP Instance UID and bytes). */
const pick = (of: RecordInstanceInput) => ({
  manifest: { ...of.manifest },
  metadata: { ...of.metadata },
  sha256: of.sha256,
  objectSha256: of.objectSha256,
});

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

  it('keeps the version the gateway received last current when an older one is delivered after it', async () => {
    const studyUid = newTestUid();
    const sop = newTestUid();
    const at = Date.now();
    // The correction (received second) is delivered first; the original arrives late, as a retry would.
    const correction = await seedTestInstance(t, where(), {
      sample: 'MR_small_padded.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
      receivedAt: new Date(at).toISOString(),
    });
    const original = await seedTestInstance(t, where(), {
      sample: 'MR_small.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
      receivedAt: new Date(at - 1000).toISOString(),
    });
    expect(original.recorded).toMatchObject({ created: true, version: 2 });
    const rows = await t.database.db
      .select({ sha256: instances.sha256, current: instances.current })
      .from(instances)
      .where(and(eq(instances.groupId, g.groupId), eq(instances.sopInstanceUid, sop)))
      .orderBy(instances.version);
    expect(rows).toEqual([
      { sha256: correction.sealed.sha256, current: true },
      { sha256: original.sealed.sha256, current: false },
    ]);
    expect(await studyRow(studyUid)).toMatchObject({ instanceCount: 1, seriesCount: 1 });
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

  if (backend === 'postgres')
    it('makes one study when instances of a new study are recorded at the same time', async () => {
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
    });

  describe('recordInstances (a batch)', () => {
    let base: SealedTestObject;
    beforeAll(async () => {
      base = await sealTestObject({ recipientPublicKey: t.deps.recipientPublicKey, sample: 'MR_small.dcm' });
    });

    /** The base object's header under other UIDs, modality and patient name (as `fake` takes them). */
    const headerOf = (
      sop: string,
      o: { study: string; series: string; modality?: string; patientName?: string | null },
    ): DicomJson => {
      const { '00100010': name, ...header } = base.metadata;
      return {
        ...header,
        ...(o.patientName === null
          ? {}
          : o.patientName === undefined
            ? name && { '00100010': name }
            : { '00100010': { vr: 'PN', Value: [{ Alphabetic: o.patientName }] } }),
        '0020000D': { vr: 'UI', Value: [o.study] },
        '0020000E': { vr: 'UI', Value: [o.series] },
        '00080018': { vr: 'UI', Value: [sop] },
        '00080060': { vr: 'CS', Value: [o.modality ?? 'MR'] },
      };
    };

    /** An input for a made-up instance: the base object's header under other UIDs and a made-up hash. */
    const fake = (o: {
      study: string;
      series: string;
      sop?: string;
      sha?: string;
      modality?: string;
      /** null: the instance carries no patient name. */
      patientName?: string | null;
      receivedAt?: string;
      storedAt?: Date;
    }): RecordInstanceInput => {
      const objectId = newTestObjectId();
      const sop = o.sop ?? newTestUid();
      return {
        ...where(),
        objectId,
        blobKey: `g/${g.groupId}/o/${objectId}.fobj`,
        manifest: {
          ...base.manifest,
          objectId,
          sopInstanceUid: sop,
          receivedAt: o.receivedAt ?? base.manifest.receivedAt,
          patient: {
            ...base.manifest.patient,
            ...(o.patientName !== undefined ? { name: o.patientName ?? undefined } : {}),
          },
          study: { ...base.manifest.study, instanceUid: o.study },
          series: { ...base.manifest.series, instanceUid: o.series, modality: o.modality ?? 'MR' },
        },
        metadata: headerOf(sop, o),
        sha256: o.sha ?? randomBytes(32).toString('hex'),
        objectSha256: randomBytes(32).toString('hex'),
        plainBytes: base.plainBytes,
        objectBytes: base.objectBytes,
        storedAt: o.storedAt ?? new Date(),
      };
    };
    const versionsOf = (sop: string) =>
      t.database.db
        .select({ version: instances.version, current: instances.current, objectId: instances.objectId })
        .from(instances)
        .where(and(eq(instances.groupId, g.groupId), eq(instances.sopInstanceUid, sop)))
        .orderBy(instances.version);
    const seriesCounts = async (studyId: string) =>
      Object.fromEntries(
        (await t.database.db.select().from(series).where(eq(series.studyId, studyId))).map((r) => [
          r.seriesInstanceUid,
          r.instanceCount,
        ]),
      );

    it('mixes new instances, a duplicate, a new version, a repeat within the batch and two studies', async () => {
      const studyA = newTestUid();
      const studyB = newTestUid();
      const [a1, a2, b1] = [newTestUid(), newTestUid(), newTestUid()];
      const kept = fake({ study: studyA, series: a1 });
      const old = fake({ study: studyA, series: a1, modality: 'MR' });
      const [before] = await recordInstances({ ctx: systemCtx(), input: [kept] });
      await recordInstance({ ctx: systemCtx(), input: old });
      expect(before).toMatchObject({ created: true, studyCreated: true });

      const newA = fake({ study: studyA, series: a2, modality: 'CT' });
      const duplicate = { ...fake({ study: studyA, series: a1 }), ...pick(kept) };
      const version = fake({ study: studyA, series: a1, sop: old.manifest.sopInstanceUid });
      const newB1 = fake({ study: studyB, series: b1, modality: 'OT' });
      const newB2 = fake({ study: studyB, series: b1, modality: 'OT' });
      // The same bytes as newB2 again, under another object id.
      const repeat = { ...fake({ study: studyB, series: b1 }), ...pick(newB2) };
      const batch = [newA, duplicate, newB1, version, newB2, repeat];
      const out = await recordInstances({ ctx: systemCtx(), input: batch });

      expect(out.map((r) => r.receipt.objectId)).toEqual(batch.map((i) => i.objectId));
      expect(out.map((r) => [r.created, r.receipt.duplicate, r.version, r.newVersion])).toEqual([
        [true, false, 1, false],
        [false, true, 1, false],
        [true, false, 1, false],
        [true, false, 2, true],
        [true, false, 1, false],
        [false, true, 1, false],
      ]);
      expect(out[1]).toMatchObject({
        instanceId: before!.instanceId,
        receipt: { objectSha256: kept.objectSha256 },
      });
      expect(out[5]).toMatchObject({ instanceId: out[4]!.instanceId });
      // Study B was made by its first instance; A existed.
      expect(out.map((r) => r.studyCreated)).toEqual([false, false, true, false, false, false]);
      expect(out[2]!.studyId).toBe(out[4]!.studyId);
      expect(out[0]!.studyId).not.toBe(out[2]!.studyId);

      expect(await versionsOf(old.manifest.sopInstanceUid)).toEqual([
        { version: 1, current: false, objectId: old.objectId },
        { version: 2, current: true, objectId: version.objectId },
      ]);
      const a = await studyRow(studyA);
      expect(a).toMatchObject({ instanceCount: 3, seriesCount: 2, modalities: ['CT', 'MR'], updated: true });
      expect(await seriesCounts(a!.id)).toEqual({ [a1]: 2, [a2]: 1 });
      expect((await eventsOf(a!.id)).sort()).toEqual(['created', 'new_version']);
      const b = await studyRow(studyB);
      expect(b).toMatchObject({ instanceCount: 2, seriesCount: 1, modalities: ['OT'], updated: false });
      expect(await seriesCounts(b!.id)).toEqual({ [b1]: 2 });
      expect(await eventsOf(b!.id)).toEqual(['created']);
    });

    it('moves a version between two studies of one batch and counts both', async () => {
      const [studyA, studyB, seriesA, seriesB] = [newTestUid(), newTestUid(), newTestUid(), newTestUid()];
      const moving = fake({ study: studyA, series: seriesA });
      await recordInstance({ ctx: systemCtx(), input: moving });
      // A corrected resend lands in study B, while study A gets a new instance in the same batch.
      const newA = fake({ study: studyA, series: seriesA });
      const corrected = fake({ study: studyB, series: seriesB, sop: moving.manifest.sopInstanceUid });
      const out = await recordInstances({ ctx: systemCtx(), input: [newA, corrected] });
      expect(out.map((r) => [r.created, r.version, r.newVersion])).toEqual([
        [true, 1, false],
        [true, 2, true],
      ]);
      const a = await studyRow(studyA);
      const b = await studyRow(studyB);
      expect(a).toMatchObject({ instanceCount: 1, seriesCount: 1, updated: true });
      expect(b).toMatchObject({ instanceCount: 1, seriesCount: 1 });
      expect(await seriesCounts(a!.id)).toEqual({ [seriesA]: 1 });
      expect(await seriesCounts(b!.id)).toEqual({ [seriesB]: 1 });
    });

    it('reopens a complete study once, and the newest instance carrying a patient field wins', async () => {
      const studyUid = newTestUid();
      const s1 = newTestUid();
      const first = await recordInstance({
        ctx: systemCtx(),
        input: fake({
          study: studyUid,
          series: s1,
          patientName: 'OLD^NAME',
          receivedAt: '2026-11-28T10:00:00.000Z',
        }),
      });
      await t.database.db
        .update(studies)
        .set({ status: 'complete', completedAt: new Date() })
        .where(eq(studies.id, first.studyId));
      const out = await recordInstances({
        ctx: systemCtx(),
        input: [
          fake({
            study: studyUid,
            series: s1,
            patientName: 'NEW^NAME',
            receivedAt: '2026-11-28T09:00:00.000Z',
          }),
          fake({ study: studyUid, series: s1, patientName: null, receivedAt: '2026-11-28T11:00:00.000Z' }),
        ],
      });
      expect(out.map((r) => [r.reopened, r.studyCreated])).toEqual([
        [true, false],
        [false, false],
      ]);
      const study = await studyRow(studyUid);
      expect(study).toMatchObject({
        status: 'receiving',
        completedAt: null,
        updated: true,
        instanceCount: 3,
        patientName: 'NEW^NAME',
        patientNameSearch: 'new name',
      });
      expect(study?.firstReceivedAt.toISOString()).toBe('2026-11-28T09:00:00.000Z');
      expect(study?.lastReceivedAt.toISOString()).toBe('2026-11-28T11:00:00.000Z');
      expect((await eventsOf(study!.id)).sort()).toEqual(['created', 'reopened']);
    });

    it('makes nothing of a batch of duplicates only', async () => {
      const stored = fake({ study: newTestUid(), series: newTestUid() });
      const [first] = await recordInstances({ ctx: systemCtx(), input: [stored] });
      const again = await recordInstances({ ctx: systemCtx(), input: [stored, { ...stored }] });
      expect(again.map((r) => [r.created, r.instanceId, r.receipt.duplicate])).toEqual([
        [false, first!.instanceId, false],
        [false, first!.instanceId, false],
      ]);
      expect((await studyRow(stored.manifest.study.instanceUid!))?.instanceCount).toBe(1);
    });

    it('records 500 instances of one study in one batch with the right counts', async () => {
      const studyUid = newTestUid();
      const seriesUids = [newTestUid(), newTestUid(), newTestUid()];
      const modalities = ['MR', 'CT', 'MR'];
      const input = Array.from({ length: 500 }, (_, i) =>
        fake({ study: studyUid, series: seriesUids[i % 3]!, modality: modalities[i % 3] }),
      );
      const out = await recordInstances({ ctx: systemCtx(), input });
      expect(out.every((r) => r.created && r.version === 1)).toBe(true);
      expect(new Set(out.map((r) => r.instanceId)).size).toBe(500);
      expect(out.filter((r) => r.studyCreated)).toHaveLength(1);
      expect(out[0]!.studyCreated).toBe(true);
      const study = await studyRow(studyUid);
      expect(study).toMatchObject({ instanceCount: 500, seriesCount: 3, modalities: ['CT', 'MR'] });
      expect(await seriesCounts(study!.id)).toEqual({
        [seriesUids[0]!]: 167,
        [seriesUids[1]!]: 167,
        [seriesUids[2]!]: 166,
      });
      expect(await eventsOf(study!.id)).toEqual(['created']);
      const rows = await t.database.db
        .select({ objectId: instances.objectId, current: instances.current, metadata: instances.metadata })
        .from(instances)
        .where(inArray(instances.id, [out[0]!.instanceId, out[499]!.instanceId]));
      expect(rows.every((r) => r.current)).toBe(true);
      const stored = new Map(rows.map((r) => [r.objectId, r.metadata]));
      expect(stored).toEqual(new Map([input[0]!, input[499]!].map((i) => [i.objectId, i.metadata])));
    });

    if (backend === 'postgres')
      it('makes one study when batches of a new study are recorded at the same time', async () => {
        const studyUid = newTestUid();
        const seriesUid = newTestUid();
        const batches = Array.from({ length: 4 }, () =>
          Array.from({ length: 25 }, () => fake({ study: studyUid, series: seriesUid })),
        );
        const out = (
          await Promise.all(batches.map((input) => recordInstances({ ctx: systemCtx(), input })))
        ).flat();
        expect(new Set(out.map((r) => r.studyId)).size).toBe(1);
        expect(out.filter((r) => r.studyCreated)).toHaveLength(1);
        const study = await studyRow(studyUid);
        expect(study).toMatchObject({ instanceCount: 100, seriesCount: 1 });
        expect(await seriesCounts(study!.id)).toEqual({ [seriesUid]: 100 });
        expect(await eventsOf(study!.id)).toEqual(['created']);
      });
  });
});
