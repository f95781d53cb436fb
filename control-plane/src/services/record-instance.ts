import { FerryError, type InstanceManifest, type Receipt } from '@ferry/shared';
import { and, desc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import type { Actor, Ctx } from '../context.js';
import type { Tx } from '../db/client.js';
import { pgErrorCode } from '../db/errors.js';
import { facilities, instances, series, studies, studyEvents } from '../db/schema/index.js';
import { type DicomJson, firstString } from '../dicom/dicom-json.js';
import { patientSearchKey } from './patient-search.js';

/** One verified instance, as complete-uploads (or a test seeding studies) knows it. */
export interface RecordInstanceInput {
  groupId: string;
  facilityId: string;
  /** The gateway that received it; null only for instances that did not come through a gateway. */
  gatewayId: string | null;
  objectId: string;
  /** Where the sealed object lives in the blob store. */
  blobKey: string;
  /** From the object's encrypted manifest frame. */
  manifest: InstanceManifest;
  /** DICOM JSON of the header up to the Pixel Data (see dicom/dicom-json.ts). */
  metadata: DicomJson;
  /** SHA-256 of the Part-10 plaintext. */
  sha256: string;
  /** SHA-256 of the sealed object as stored. */
  objectSha256: string;
  plainBytes: number;
  objectBytes: number;
  storedAt: Date;
}

export interface RecordedInstance {
  /** What the agent gets back. `duplicate` when the group already held this exact instance under another object. */
  receipt: Receipt;
  /** False when the same SOP Instance UID with the same hash was already stored: nothing was written. */
  created: boolean;
  instanceId: string;
  studyId: string;
  seriesId: string;
  version: number;
  studyCreated: boolean;
  /** The study was complete and is receiving again. */
  reopened: boolean;
  /** An earlier version of this SOP Instance UID (other bytes) is no longer current. */
  newVersion: boolean;
}

const RETRYABLE_SQLSTATES = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 3;

/** Gateways record what they received themselves; the system (and tests) may record for any gateway. */
function checkCaller(actor: Actor, input: RecordInstanceInput): void {
  if (actor.kind === 'system') return;
  if (
    actor.kind === 'agent' &&
    actor.groupId === input.groupId &&
    actor.facilityId === input.facilityId &&
    actor.gatewayId === input.gatewayId
  ) {
    return;
  }
  throw new FerryError('auth.forbidden', 'only the receiving gateway or the system records an instance');
}

function present(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

function validDate(iso: string, fallback: Date): Date {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? fallback : d;
}

function intOrNull(v: string | number | undefined): number | null {
  if (v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isSafeInteger(n) && n >= -2147483648 && n <= 2147483647 ? n : null;
}

function invalid(message: string): FerryError {
  return new FerryError('upload.object_invalid', message);
}

/** The fields recordInstance derives from the manifest, with the parsed header as the fallback. */
function describe(input: RecordInstanceInput) {
  const m = input.manifest;
  const md = input.metadata;
  const studyUid = present(m.study.instanceUid) ?? firstString(md, '0020000D');
  const seriesUid = present(m.series.instanceUid) ?? firstString(md, '0020000E');
  const sopInstanceUid = present(m.sopInstanceUid);
  if (!sopInstanceUid) throw invalid('the instance has no SOP Instance UID');
  if (!studyUid) throw invalid(`instance ${sopInstanceUid} has no Study Instance UID`);
  if (!seriesUid) throw invalid(`instance ${sopInstanceUid} has no Series Instance UID`);
  return {
    studyUid,
    seriesUid,
    sopInstanceUid,
    sopClassUid: present(m.sopClassUid) ?? firstString(md, '00080016') ?? '',
    receivedAt: validDate(m.receivedAt, input.storedAt),
    instanceNumber: intOrNull(firstString(md, '00200013')),
    numberOfFrames: intOrNull(m.numberOfFrames ?? firstString(md, '00280008')),
    patient: {
      name: present(m.patient.name),
      id: present(m.patient.id),
      birthDate: present(m.patient.birthDate),
      sex: present(m.patient.sex),
    },
    study: {
      date: present(m.study.date),
      time: present(m.study.time),
      description: present(m.study.description),
      accessionNumber: present(m.study.accessionNumber),
      referringPhysician: present(m.study.referringPhysician),
    },
    series: {
      modality: present(m.series.modality) ?? null,
      number: present(m.series.number) ?? null,
      description: present(m.series.description) ?? null,
    },
  };
}

type Described = ReturnType<typeof describe>;

/** Every stored version of a SOP Instance UID in the group, newest first. */
async function versionsOf(tx: Tx, groupId: string, sopInstanceUid: string) {
  return tx
    .select({
      id: instances.id,
      version: instances.version,
      current: instances.current,
      sha256: instances.sha256,
      objectId: instances.objectId,
      objectSha256: instances.objectSha256,
      storedAt: instances.storedAt,
      studyId: instances.studyId,
      seriesId: instances.seriesId,
    })
    .from(instances)
    .where(and(eq(instances.groupId, groupId), eq(instances.sopInstanceUid, sopInstanceUid)))
    .orderBy(desc(instances.version));
}
type Version = Awaited<ReturnType<typeof versionsOf>>[number];

function duplicateOf(input: RecordInstanceInput, d: Described, same: Version): RecordedInstance {
  return {
    receipt: {
      objectId: input.objectId,
      sopInstanceUid: d.sopInstanceUid,
      sha256: input.sha256,
      objectSha256: same.objectSha256,
      storedAt: same.storedAt.toISOString(),
      duplicate: same.objectId !== input.objectId,
    },
    created: false,
    instanceId: same.id,
    studyId: same.studyId,
    seriesId: same.seriesId,
    version: same.version,
    studyCreated: false,
    reopened: false,
    newVersion: false,
  };
}

/** Recounts a study's current instances, series and modalities (the study row is locked by the caller). */
function studyCounts(studyId: string) {
  return {
    instanceCount: sql<number>`(select count(*)::int from ${instances} where ${instances.studyId} = ${studyId} and ${instances.current})`,
    seriesCount: sql<number>`(select count(distinct ${instances.seriesId})::int from ${instances} where ${instances.studyId} = ${studyId} and ${instances.current})`,
    modalities: sql<
      string[]
    >`coalesce((select array_agg(distinct s.modality order by s.modality) from ${series} s where s.study_id = ${studyId} and s.modality is not null and exists (select 1 from ${instances} i where i.series_id = s.id and i.current)), '{}'::text[])`,
  };
}

/**
 * The counts after adding one current instance, without counting rows: the study row is locked, so
 * concurrent records of the same study take turns and each sees the last one's counts.
 */
function studyCountsPlusOne(firstOfSeries: boolean, modality: string | null) {
  return {
    instanceCount: sql<number>`${studies.instanceCount} + 1`,
    seriesCount: firstOfSeries
      ? sql<number>`${studies.seriesCount} + 1`
      : sql<number>`${studies.seriesCount}`,
    modalities:
      modality === null
        ? sql<string[]>`${studies.modalities}`
        : sql<
            string[]
          >`case when ${modality}::text = any(${studies.modalities}) then ${studies.modalities} else (select array_agg(m order by m) from unnest(array_append(${studies.modalities}, ${modality}::text)) m) end`,
  };
}

async function recountSeries(tx: Tx, seriesIds: string[]): Promise<void> {
  await tx
    .update(series)
    .set({
      instanceCount: sql`(select count(*)::int from ${instances} where ${instances.seriesId} = ${series.id} and ${instances.current})`,
    })
    .where(inArray(series.id, seriesIds));
}

async function recordOnce(tx: Tx, input: RecordInstanceInput, d: Described): Promise<RecordedInstance> {
  // Insert or lock the study row: every later step for this study waits here, so concurrent instances of
  // one study never make two studies and always count each other.
  const [locked] = await tx
    .insert(studies)
    .values({
      groupId: input.groupId,
      facilityId: input.facilityId,
      studyInstanceUid: d.studyUid,
      patientName: d.patient.name,
      patientId: d.patient.id,
      patientBirthDate: d.patient.birthDate,
      patientSex: d.patient.sex,
      patientNameSearch: patientSearchKey(d.patient.name),
      patientIdSearch: patientSearchKey(d.patient.id),
      studyDate: d.study.date,
      studyTime: d.study.time,
      description: d.study.description,
      accessionNumber: d.study.accessionNumber,
      referringPhysician: d.study.referringPhysician,
      firstReceivedAt: d.receivedAt,
      lastReceivedAt: d.receivedAt,
      firstStoredAt: input.storedAt,
      lastStoredAt: input.storedAt,
    })
    .onConflictDoUpdate({
      target: [studies.groupId, studies.studyInstanceUid],
      set: { studyInstanceUid: sql`excluded.study_instance_uid` },
    })
    .returning({ ...getTableColumns(studies), inserted: sql<boolean>`(xmax = 0)` });
  if (!locked) throw new Error('study upsert returned no row');
  const { inserted: studyCreated, ...study } = locked;

  const earlier = await versionsOf(tx, input.groupId, d.sopInstanceUid);
  const same = earlier.find((v) => v.sha256 === input.sha256);
  if (same) {
    // The same bytes again (a resend under another object id): nothing new.
    if (studyCreated) await tx.delete(studies).where(eq(studies.id, study.id));
    return duplicateOf(input, d, same);
  }
  const version = (earlier[0]?.version ?? 0) + 1;
  const replaced = earlier.filter((e) => e.current);
  const newVersion = earlier.length > 0;

  const [ser] = await tx
    .insert(series)
    .values({
      groupId: input.groupId,
      studyId: study.id,
      seriesInstanceUid: d.seriesUid,
      modality: d.series.modality,
      seriesNumber: d.series.number,
      description: d.series.description,
      instanceCount: 1,
    })
    .onConflictDoUpdate({
      target: [series.studyId, series.seriesInstanceUid],
      set: {
        modality: sql`coalesce(excluded.modality, ${series.modality})`,
        seriesNumber: sql`coalesce(excluded.series_number, ${series.seriesNumber})`,
        description: sql`coalesce(excluded.description, ${series.description})`,
        instanceCount: sql`${series.instanceCount} + 1`,
      },
    })
    .returning({ id: series.id, instanceCount: series.instanceCount, modality: series.modality });
  if (!ser) throw new Error('series upsert returned no row');

  if (replaced.length > 0) {
    await tx
      .update(instances)
      .set({ current: false })
      .where(
        and(
          eq(instances.groupId, input.groupId),
          eq(instances.sopInstanceUid, d.sopInstanceUid),
          eq(instances.current, true),
        ),
      );
  }

  const [inst] = await tx
    .insert(instances)
    .values({
      groupId: input.groupId,
      facilityId: input.facilityId,
      gatewayId: input.gatewayId,
      studyId: study.id,
      seriesId: ser.id,
      sopInstanceUid: d.sopInstanceUid,
      sopClassUid: d.sopClassUid,
      instanceNumber: d.instanceNumber,
      numberOfFrames: d.numberOfFrames,
      version,
      current: true,
      objectId: input.objectId,
      blobKey: input.blobKey,
      sha256: input.sha256,
      objectSha256: input.objectSha256,
      plainBytes: input.plainBytes,
      objectBytes: input.objectBytes,
      transferSyntaxUid: input.manifest.transferSyntaxUid,
      callingAeTitle: input.manifest.callingAeTitle,
      receivedAt: d.receivedAt,
      storedAt: input.storedAt,
      metadata: input.metadata,
    })
    .returning({ id: instances.id });
  if (!inst) throw new Error('instance insert returned no row');

  // A replaced version moves counts in ways an increment does not capture: count those rows again.
  if (replaced.length > 0)
    await recountSeries(tx, [...new Set([ser.id, ...replaced.map((r) => r.seriesId)])]);

  const reopened = !studyCreated && study.status === 'complete';
  const name = d.patient.name ?? study.patientName ?? undefined;
  const pid = d.patient.id ?? study.patientId ?? undefined;
  const max = (a: Date, b: Date) => (a.getTime() >= b.getTime() ? a : b);
  const min = (a: Date, b: Date) => (a.getTime() <= b.getTime() ? a : b);
  await tx
    .update(studies)
    .set({
      // The newest instance that carries a value wins: a corrected resend corrects the worklist.
      patientName: name ?? null,
      patientId: pid ?? null,
      patientBirthDate: d.patient.birthDate ?? study.patientBirthDate,
      patientSex: d.patient.sex ?? study.patientSex,
      patientNameSearch: patientSearchKey(name),
      patientIdSearch: patientSearchKey(pid),
      studyDate: d.study.date ?? study.studyDate,
      studyTime: d.study.time ?? study.studyTime,
      description: d.study.description ?? study.description,
      accessionNumber: d.study.accessionNumber ?? study.accessionNumber,
      referringPhysician: d.study.referringPhysician ?? study.referringPhysician,
      ...(replaced.length > 0
        ? studyCounts(study.id)
        : studyCountsPlusOne(ser.instanceCount === 1, ser.modality)),
      status: 'receiving',
      updated: study.updated || reopened || newVersion,
      completedAt: null,
      firstReceivedAt: min(study.firstReceivedAt, d.receivedAt),
      lastReceivedAt: max(study.lastReceivedAt, d.receivedAt),
      firstStoredAt: min(study.firstStoredAt, input.storedAt),
      lastStoredAt: max(study.lastStoredAt, input.storedAt),
    })
    .where(eq(studies.id, study.id));

  // A replaced version in another study (a resend under a corrected Study Instance UID) leaves that one too.
  const otherStudies = [...new Set(replaced.map((r) => r.studyId))].filter((id) => id !== study.id);
  for (const id of otherStudies) {
    await tx
      .update(studies)
      .set({ ...studyCounts(id), updated: true })
      .where(eq(studies.id, id));
  }

  const events: (typeof studyEvents.$inferInsert)[] = [];
  if (studyCreated) events.push({ studyId: study.id, kind: 'created', detail: { objectId: input.objectId } });
  if (reopened) events.push({ studyId: study.id, kind: 'reopened', detail: { objectId: input.objectId } });
  if (newVersion) {
    events.push({
      studyId: study.id,
      kind: 'new_version',
      detail: {
        sopInstanceUid: d.sopInstanceUid,
        version,
        objectId: input.objectId,
        previousObjectId: earlier[0]?.objectId,
      },
    });
  }
  if (events.length > 0) await tx.insert(studyEvents).values(events);

  return {
    receipt: {
      objectId: input.objectId,
      sopInstanceUid: d.sopInstanceUid,
      sha256: input.sha256,
      objectSha256: input.objectSha256,
      storedAt: input.storedAt.toISOString(),
      duplicate: false,
    },
    created: true,
    instanceId: inst.id,
    studyId: study.id,
    seriesId: ser.id,
    version,
    studyCreated,
    reopened,
    newVersion,
  };
}

/**
 * True for a failure that running the same transaction again can cure: a unique index that a
 * concurrent record filled first (the same new SOP Instance UID twice), a deadlock, a serialization
 * failure. Callers that pass their own `tx` retry their whole transaction on these.
 */
export function isRetryableRecordError(err: unknown): boolean {
  const state = pgErrorCode(err);
  return state !== undefined && RETRYABLE_SQLSTATES.has(state);
}

/**
 * Adds one verified instance to the index: its study (created, or reopened when it was complete), its
 * series and the instance itself, as a new version when the SOP Instance UID is known with other bytes.
 * The same SOP Instance UID with the same hash is a duplicate and changes nothing.
 *
 * Runs in its own transaction (retried on isRetryableRecordError), or inside the caller's `tx` when
 * the caller has more to commit with it (complete-uploads marks the upload stored in the same one);
 * then the caller retries. No audit row: instances are high volume, and the study events and the
 * instance row itself are the record.
 */
export async function recordInstance({
  ctx,
  input,
  tx,
}: {
  ctx: Ctx;
  input: RecordInstanceInput;
  tx?: Tx;
}): Promise<RecordedInstance> {
  checkCaller(ctx.actor, input);
  const d = describe(input);
  const run = async (t: Tx) => {
    if (ctx.actor.kind === 'system') {
      const [f] = await t
        .select({ id: facilities.id })
        .from(facilities)
        .where(and(eq(facilities.id, input.facilityId), eq(facilities.groupId, input.groupId)));
      if (!f) throw new FerryError('resource.not_found', `no facility ${input.facilityId} in this group`);
    }
    return recordOnce(t, input, d);
  };
  if (tx) return run(tx);
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.db.transaction(run);
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !isRetryableRecordError(err)) throw err;
    }
  }
}
