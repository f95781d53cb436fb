import { FerryError, type InstanceManifest, type Receipt } from '@ferry/shared';
import { and, desc, eq, getTableColumns, inArray, or, type SQL, sql } from 'drizzle-orm';
import type { Actor, Ctx } from '../context.js';
import type { Tx } from '../db/client.js';
import { pgErrorCode } from '../db/errors.js';
import { jsonRows } from '../db/queries/json-rows.js';
import { facilities, instances, series, studies, studyEvents } from '../db/schema/index.js';
import { type DicomJson, firstString } from '../dicom/dicom-json.js';
import { patientSearchKey } from '../services/patient-search.js';

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
  /** This instance created its study (in a batch: the first created instance of a new study). */
  studyCreated: boolean;
  /** The study was complete and is receiving again (in a batch: on the first created instance). */
  reopened: boolean;
  /** An earlier version of this SOP Instance UID (other bytes) is no longer current. */
  newVersion: boolean;
}

const RETRYABLE_SQLSTATES = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 3;
/** Instance rows per INSERT (one jsonb parameter for all: about 3 KB a row with its header). */
const INSERT_CHUNK = 500;

/**
 * A concurrent transaction stored the same SOP Instance UID and hash while this one was writing (only
 * possible across two studies: within one, the study lock orders them). Running again sees it as a
 * duplicate.
 */
class ConcurrentRecordError extends Error {
  constructor() {
    super('a concurrent record stored the same instance; run the transaction again');
  }
}

/**
 * True for a failure that running the same transaction again can cure: a unique index that a
 * concurrent record filled first (the same new SOP Instance UID twice), a deadlock, a serialization
 * failure. Callers that pass their own `tx` retry their whole transaction on these.
 */
export function isRetryableRecordError(err: unknown): boolean {
  if (err instanceof ConcurrentRecordError) return true;
  const state = pgErrorCode(err);
  return state !== undefined && RETRYABLE_SQLSTATES.has(state);
}

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

/** The fields recording derives from the manifest, with the parsed header as the fallback. */
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

/**
 * Throws `upload.object_invalid` when the instance cannot be recorded whatever the index holds (no
 * Study, Series or SOP Instance UID): callers batching many check each first, so one bad instance does
 * not fail the others' transaction.
 */
export function checkRecordable(input: RecordInstanceInput): void {
  describe(input);
}

/** One instance of a batch: its place in the input and what it describes. */
interface Item {
  index: number;
  input: RecordInstanceInput;
  d: Described;
}

const versionColumns = {
  id: instances.id,
  version: instances.version,
  current: instances.current,
  sha256: instances.sha256,
  objectId: instances.objectId,
  objectSha256: instances.objectSha256,
  storedAt: instances.storedAt,
  studyId: instances.studyId,
  seriesId: instances.seriesId,
  sopInstanceUid: instances.sopInstanceUid,
};

/** Every stored version of these SOP Instance UIDs in the group (one query), newest first per UID. */
async function versionsOfMany(tx: Tx, groupId: string, sopInstanceUids: string[]) {
  const rows = await tx
    .select(versionColumns)
    .from(instances)
    .where(and(eq(instances.groupId, groupId), inArray(instances.sopInstanceUid, sopInstanceUids)))
    .orderBy(desc(instances.version));
  const bySop = new Map<string, typeof rows>();
  for (const r of rows) {
    const list = bySop.get(r.sopInstanceUid);
    if (list) list.push(r);
    else bySop.set(r.sopInstanceUid, [r]);
  }
  return bySop;
}
type Version = Awaited<ReturnType<typeof versionsOfMany>> extends Map<string, (infer V)[]> ? V : never;

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

function createdResult(item: Item, ids: { instanceId: string; studyId: string; seriesId: string }) {
  const { input, d } = item;
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
    ...ids,
    version: 1,
    studyCreated: false,
    reopened: false,
    newVersion: false,
  } satisfies RecordedInstance;
}

/** Recounts a study's current instances, series and modalities (the study row is locked). */
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
 * The counts after adding current instances, without counting rows: the study row is locked, so
 * concurrent records of the same study take turns and each sees the last one's counts.
 */
function studyCountsPlus(added: number, newSeries: number, modalities: string[]) {
  return {
    instanceCount: sql<number>`${studies.instanceCount} + ${added}`,
    seriesCount: sql<number>`${studies.seriesCount} + ${newSeries}`,
    modalities:
      modalities.length === 0
        ? sql<string[]>`${studies.modalities}`
        : sql<
            string[]
          >`(select coalesce(array_agg(distinct m order by m), '{}'::text[]) from unnest(${studies.modalities} || array[${sql.join(
            modalities.map((m) => sql`${m}::text`),
            sql`, `,
          )}]) m)`,
  };
}

async function recountSeries(tx: Tx, seriesIds: string[]): Promise<void> {
  if (seriesIds.length === 0) return;
  await tx
    .update(series)
    .set({
      instanceCount: sql`(select count(*)::int from ${instances} where ${instances.seriesId} = ${series.id} and ${instances.current})`,
    })
    .where(inArray(series.id, seriesIds));
}

function instanceValues(item: Item, studyId: string, seriesId: string, version: number) {
  const { input, d } = item;
  return {
    groupId: input.groupId,
    facilityId: input.facilityId,
    gatewayId: input.gatewayId,
    studyId,
    seriesId,
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
  } satisfies typeof instances.$inferInsert;
}

interface SeriesAdd {
  studyId: string;
  seriesUid: string;
  modality: string | null;
  number: string | null;
  description: string | null;
  count: number;
}

/**
 * Creates or updates series (one statement; at most one row per study and UID), adding `count` to
 * each one's instance count. A field an instance carries replaces the stored one.
 */
async function upsertSeries(tx: Tx, groupId: string, adds: SeriesAdd[]) {
  if (adds.length === 0) return [];
  return tx
    .insert(series)
    .values(
      adds.map((a) => ({
        groupId,
        studyId: a.studyId,
        seriesInstanceUid: a.seriesUid,
        modality: a.modality,
        seriesNumber: a.number,
        description: a.description,
        instanceCount: a.count,
      })),
    )
    .onConflictDoUpdate({
      target: [series.studyId, series.seriesInstanceUid],
      set: {
        modality: sql`coalesce(excluded.modality, ${series.modality})`,
        seriesNumber: sql`coalesce(excluded.series_number, ${series.seriesNumber})`,
        description: sql`coalesce(excluded.description, ${series.description})`,
        instanceCount: sql`${series.instanceCount} + excluded.instance_count`,
      },
    })
    .returning({
      id: series.id,
      studyId: series.studyId,
      seriesInstanceUid: series.seriesInstanceUid,
      instanceCount: series.instanceCount,
      modality: series.modality,
    });
}

type StudyRow = typeof studies.$inferSelect;

/** One study of the batch while it is written. */
interface StudyWork {
  uid: string;
  items: Item[];
  row: StudyRow;
  /** This batch inserted the row. */
  inserted: boolean;
  /** Created instances, any order (sorted by batch position at the end). */
  created: { item: Item; result: RecordedInstance; previousObjectId?: string }[];
  /** Current instances added by the multi-row insert (counted by increment). */
  added: number;
  newSeries: number;
  modalities: Set<string>;
  /** A version replaced, or an instance written one by one: count rows again instead of incrementing. */
  recount: boolean;
}

/**
 * One instance the slow way, as recordInstance always did: its SOP Instance UID is known with other
 * bytes (a new version), or came twice in the batch. The study row is locked; its update comes later.
 */
async function recordOneByOne(
  tx: Tx,
  item: Item,
  work: StudyWork,
  recountSeriesIds: Set<string>,
  otherStudies: Set<string>,
): Promise<RecordedInstance> {
  const { input, d } = item;
  const earlier = (await versionsOfMany(tx, input.groupId, [d.sopInstanceUid])).get(d.sopInstanceUid) ?? [];
  const same = earlier.find((v) => v.sha256 === input.sha256);
  if (same) return duplicateOf(input, d, same);
  const version = (earlier[0]?.version ?? 0) + 1;
  const replaced = earlier.filter((e) => e.current);

  const [ser] = await upsertSeries(tx, input.groupId, [
    {
      studyId: work.row.id,
      seriesUid: d.seriesUid,
      modality: d.series.modality,
      number: d.series.number,
      description: d.series.description,
      count: 1,
    },
  ]);
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
    .values(instanceValues(item, work.row.id, ser.id, version))
    .returning({ id: instances.id });
  if (!inst) throw new Error('instance insert returned no row');

  work.recount = true;
  recountSeriesIds.add(ser.id);
  for (const r of replaced) {
    recountSeriesIds.add(r.seriesId);
    // A replaced version in another study (a resend under a corrected Study Instance UID) leaves that one.
    if (r.studyId !== work.row.id) otherStudies.add(r.studyId);
  }
  const result: RecordedInstance = {
    ...createdResult(item, { instanceId: inst.id, studyId: work.row.id, seriesId: ser.id }),
    version,
    newVersion: earlier.length > 0,
  };
  work.created.push({ item, result, previousObjectId: earlier[0]?.objectId });
  return result;
}

/** Inserts the studies (or locks the existing rows), in UID order so concurrent batches lock alike. */
async function lockStudies(tx: Tx, groupId: string, byUid: Map<string, Item[]>): Promise<StudyWork[]> {
  const uids = [...byUid.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rows = await tx
    .insert(studies)
    .values(
      uids.map((uid) => {
        const { input, d } = byUid.get(uid)![0]!;
        return {
          groupId,
          facilityId: input.facilityId,
          studyInstanceUid: uid,
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
        };
      }),
    )
    .onConflictDoUpdate({
      target: [studies.groupId, studies.studyInstanceUid],
      set: { studyInstanceUid: sql`excluded.study_instance_uid` },
    })
    .returning({ ...getTableColumns(studies), inserted: sql<boolean>`(xmax = 0)` });
  const byRow = new Map(rows.map((r) => [r.studyInstanceUid, r]));
  return uids.map((uid) => {
    const locked = byRow.get(uid);
    if (!locked) throw new Error('study upsert returned no row');
    const { inserted, ...row } = locked;
    return {
      uid,
      items: byUid.get(uid)!,
      row,
      inserted,
      created: [],
      added: 0,
      newSeries: 0,
      modalities: new Set(),
      recount: false,
    };
  });
}

/** The study row after its created instances (in batch order): the newest value an instance carries wins. */
async function finishStudy(tx: Tx, work: StudyWork): Promise<StudyEventRow[]> {
  const study = work.row;
  if (work.created.length === 0) {
    // Only duplicates: nothing new, and no study made for them.
    if (work.inserted) await tx.delete(studies).where(eq(studies.id, study.id));
    return [];
  }
  work.created.sort((a, b) => a.item.index - b.item.index);
  const first = work.created[0]!;
  const reopened = !work.inserted && study.status === 'complete';
  first.result.studyCreated = work.inserted;
  first.result.reopened = reopened;

  let name = study.patientName ?? undefined;
  let pid = study.patientId ?? undefined;
  let birthDate = study.patientBirthDate;
  let sex = study.patientSex;
  let date = study.studyDate;
  let time = study.studyTime;
  let description = study.description;
  let accession = study.accessionNumber;
  let referring = study.referringPhysician;
  let firstReceivedAt = study.firstReceivedAt;
  let lastReceivedAt = study.lastReceivedAt;
  let firstStoredAt = study.firstStoredAt;
  let lastStoredAt = study.lastStoredAt;
  let newVersion = false;
  for (const { item, result } of work.created) {
    const { d, input } = item;
    name = d.patient.name ?? name;
    pid = d.patient.id ?? pid;
    birthDate = d.patient.birthDate ?? birthDate;
    sex = d.patient.sex ?? sex;
    date = d.study.date ?? date;
    time = d.study.time ?? time;
    description = d.study.description ?? description;
    accession = d.study.accessionNumber ?? accession;
    referring = d.study.referringPhysician ?? referring;
    if (d.receivedAt.getTime() < firstReceivedAt.getTime()) firstReceivedAt = d.receivedAt;
    if (d.receivedAt.getTime() > lastReceivedAt.getTime()) lastReceivedAt = d.receivedAt;
    if (input.storedAt.getTime() < firstStoredAt.getTime()) firstStoredAt = input.storedAt;
    if (input.storedAt.getTime() > lastStoredAt.getTime()) lastStoredAt = input.storedAt;
    newVersion ||= result.newVersion;
  }

  await tx
    .update(studies)
    .set({
      patientName: name ?? null,
      patientId: pid ?? null,
      patientBirthDate: birthDate,
      patientSex: sex,
      patientNameSearch: patientSearchKey(name),
      patientIdSearch: patientSearchKey(pid),
      studyDate: date,
      studyTime: time,
      description,
      accessionNumber: accession,
      referringPhysician: referring,
      ...(work.recount
        ? studyCounts(study.id)
        : studyCountsPlus(work.added, work.newSeries, [...work.modalities].sort())),
      status: 'receiving',
      updated: study.updated || reopened || newVersion,
      completedAt: null,
      firstReceivedAt,
      lastReceivedAt,
      firstStoredAt,
      lastStoredAt,
    })
    .where(eq(studies.id, study.id));

  const events: StudyEventRow[] = [];
  const objectId = first.item.input.objectId;
  if (work.inserted) events.push({ studyId: study.id, kind: 'created', detail: { objectId } });
  if (reopened) events.push({ studyId: study.id, kind: 'reopened', detail: { objectId } });
  for (const { item, result, previousObjectId } of work.created) {
    if (!result.newVersion) continue;
    events.push({
      studyId: study.id,
      kind: 'new_version',
      detail: {
        sopInstanceUid: item.d.sopInstanceUid,
        version: result.version,
        objectId: item.input.objectId,
        previousObjectId,
      },
    });
  }
  return events;
}
type StudyEventRow = typeof studyEvents.$inferInsert;

/** Records the items of one group: every study of theirs locked once, then written in a few statements. */
async function recordGroup(
  tx: Tx,
  groupId: string,
  items: Item[],
  out: RecordedInstance[],
): Promise<StudyEventRow[]> {
  const byUid = new Map<string, Item[]>();
  for (const item of items) {
    const list = byUid.get(item.d.studyUid);
    if (list) list.push(item);
    else byUid.set(item.d.studyUid, [item]);
  }
  // Every later step for these studies waits here, so concurrent records of one study never make two
  // studies and always count each other.
  const works = await lockStudies(tx, groupId, byUid);
  const workOf = new Map(works.map((w) => [w.uid, w]));
  const workById = new Map(works.map((w) => [w.row.id, w]));
  const versions = await versionsOfMany(tx, groupId, [...new Set(items.map((i) => i.d.sopInstanceUid))]);

  // New SOP Instance UIDs go in together; known ones (new versions) and repeats within the batch go one by one.
  const fast: Item[] = [];
  const slow: Item[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const sop = item.d.sopInstanceUid;
    const known = versions.get(sop);
    const same = known?.find((v) => v.sha256 === item.input.sha256);
    if (same) out[item.index] = duplicateOf(item.input, item.d, same);
    else if (known || seen.has(sop)) slow.push(item);
    else fast.push(item);
    seen.add(sop);
  }

  if (fast.length > 0) {
    const adds = new Map<string, SeriesAdd>();
    for (const { d } of fast) {
      const studyId = workOf.get(d.studyUid)!.row.id;
      const key = `${studyId}\0${d.seriesUid}`;
      const a = adds.get(key);
      if (a) {
        a.count++;
        a.modality = d.series.modality ?? a.modality;
        a.number = d.series.number ?? a.number;
        a.description = d.series.description ?? a.description;
      } else {
        adds.set(key, { studyId, seriesUid: d.seriesUid, ...d.series, count: 1 });
      }
    }
    const sorted = [...adds.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const upserted = await upsertSeries(
      tx,
      groupId,
      sorted.map(([, a]) => a),
    );
    const seriesOf = new Map(upserted.map((s) => [`${s.studyId}\0${s.seriesInstanceUid}`, s]));
    for (const [key, a] of sorted) {
      const s = seriesOf.get(key);
      if (!s) throw new Error('series upsert returned no row');
      const work = workById.get(a.studyId)!;
      // The count is what this batch added: the series had no current instance before.
      if (s.instanceCount === a.count) work.newSeries++;
      if (s.modality !== null) work.modalities.add(s.modality);
    }

    const inserted = new Map<string, string>();
    for (let at = 0; at < fast.length; at += INSERT_CHUNK) {
      const chunk = fast.slice(at, at + INSERT_CHUNK);
      const rows = await tx
        .insert(instances)
        .select(
          jsonRows(
            instances,
            chunk.map((item) => {
              const work = workOf.get(item.d.studyUid)!;
              const s = seriesOf.get(`${work.row.id}\0${item.d.seriesUid}`)!;
              return instanceValues(item, work.row.id, s.id, 1);
            }),
          ),
        )
        .onConflictDoNothing({
          target: [instances.groupId, instances.sopInstanceUid, instances.sha256],
        })
        .returning({ id: instances.id, sopInstanceUid: instances.sopInstanceUid });
      for (const r of rows) inserted.set(r.sopInstanceUid, r.id);
    }
    // Skipped: another study's transaction stored the same bytes meanwhile. The counts added above
    // would be wrong; the next attempt sees those rows and answers duplicates.
    if (inserted.size !== fast.length) throw new ConcurrentRecordError();

    for (const item of fast) {
      const work = workOf.get(item.d.studyUid)!;
      const seriesId = seriesOf.get(`${work.row.id}\0${item.d.seriesUid}`)!.id;
      const result = createdResult(item, {
        instanceId: inserted.get(item.d.sopInstanceUid)!,
        studyId: work.row.id,
        seriesId,
      });
      out[item.index] = result;
      work.created.push({ item, result });
      work.added++;
    }
  }

  const recountSeriesIds = new Set<string>();
  const otherStudies = new Set<string>();
  for (const item of slow) {
    out[item.index] = await recordOneByOne(
      tx,
      item,
      workOf.get(item.d.studyUid)!,
      recountSeriesIds,
      otherStudies,
    );
  }

  const events: StudyEventRow[] = [];
  for (const work of works) events.push(...(await finishStudy(tx, work)));
  await recountSeries(tx, [...recountSeriesIds]);
  // After every study of the batch is written (one of them may have lost a version too, after an
  // increment): a study that lost a current version counts its rows again.
  for (const id of otherStudies) {
    await tx
      .update(studies)
      .set({ ...studyCounts(id), updated: true })
      .where(eq(studies.id, id));
  }
  return events;
}

/** Checks (as the system) that each instance's facility belongs to its group. */
async function checkFacilities(tx: Tx, inputs: RecordInstanceInput[]): Promise<void> {
  const pairs = new Map<string, { facilityId: string; groupId: string }>();
  for (const i of inputs) pairs.set(`${i.facilityId}\0${i.groupId}`, i);
  const wanted = [...pairs.values()];
  const conditions: SQL[] = wanted.map(
    (p) => and(eq(facilities.id, p.facilityId), eq(facilities.groupId, p.groupId)) as SQL,
  );
  const found = await tx
    .select({ id: facilities.id, groupId: facilities.groupId })
    .from(facilities)
    .where(or(...conditions));
  const ok = new Set(found.map((f) => `${f.id}\0${f.groupId}`));
  const missing = wanted.find((p) => !ok.has(`${p.facilityId}\0${p.groupId}`));
  if (missing) throw new FerryError('resource.not_found', `no facility ${missing.facilityId} in this group`);
}

/**
 * Adds verified instances to the index, many per statement: each study (created, or reopened when it
 * was complete) is locked once and updated once, its series upserted together, and the new instances
 * inserted in one statement. An instance whose SOP Instance UID is known with other bytes becomes a new
 * current version (written one by one: rare); the same SOP Instance UID with the same hash is a
 * duplicate and changes nothing. Answers in input order.
 *
 * Runs in its own transaction (retried on isRetryableRecordError), or inside the caller's `tx` when
 * the caller has more to commit with it (complete-uploads marks the uploads stored in the same one);
 * then the caller retries. No audit row: instances are high volume, and the study events and the
 * instance rows themselves are the record.
 */
export async function recordInstances({
  ctx,
  input,
  tx,
}: {
  ctx: Ctx;
  input: RecordInstanceInput[];
  tx?: Tx;
}): Promise<RecordedInstance[]> {
  for (const i of input) checkCaller(ctx.actor, i);
  const items: Item[] = input.map((i, index) => ({ index, input: i, d: describe(i) }));
  if (items.length === 0) return [];
  const byGroup = new Map<string, Item[]>();
  for (const item of items) {
    const list = byGroup.get(item.input.groupId);
    if (list) list.push(item);
    else byGroup.set(item.input.groupId, [item]);
  }
  const run = async (t: Tx) => {
    if (ctx.actor.kind === 'system') await checkFacilities(t, input);
    const out: RecordedInstance[] = new Array(items.length);
    const events: StudyEventRow[] = [];
    for (const [groupId, groupItems] of byGroup)
      events.push(...(await recordGroup(t, groupId, groupItems, out)));
    if (events.length > 0) await t.insert(studyEvents).values(events);
    return out;
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
