/**
 * A study's life as instances arrive: created by its first instance, `receiving` while instances come,
 * `complete` once stable (complete-stable-studies.ts), reopened (and flagged `updated`) when one more
 * arrives after that. Its worklist fields follow the newest instance that carries each of them.
 */
import type { Tx } from '../db/client.js';
import {
  deleteStudy,
  insertOrLockStudies,
  type StudyEventRow,
  type StudyRow,
  studyCounts,
  studyCountsPlus,
  updateStudy,
} from '../db/queries/ingest-studies.js';
import { patientSearchKey } from '../dicom/patient-search.js';
import { studyRecordedNotice } from '../jobs/queue-study-completion.js';
import type { Item, RecordedInstance } from './recorded.js';

/** One study of the batch while it is written. */
export interface StudyWork {
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

const byUid = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Inserts the studies (or locks the existing rows), in UID order so concurrent batches lock alike.
 * Every later step for these studies waits here, so concurrent records of one study never make two
 * studies and always count each other.
 */
export async function lockStudies(tx: Tx, groupId: string, items: Item[]): Promise<StudyWork[]> {
  const itemsOf = new Map<string, Item[]>();
  for (const item of items) {
    const list = itemsOf.get(item.d.studyUid);
    if (list) list.push(item);
    else itemsOf.set(item.d.studyUid, [item]);
  }
  const uids = [...itemsOf.keys()].sort(byUid);
  const rows = await insertOrLockStudies(
    tx,
    uids.map((uid) => {
      const { input, d } = itemsOf.get(uid)![0]!;
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
  );
  const byRow = new Map(rows.map((r) => [r.studyInstanceUid, r]));
  return uids.map((uid) => {
    const locked = byRow.get(uid);
    if (!locked) throw new Error('study upsert returned no row');
    const { inserted, ...row } = locked;
    const work: StudyWork = {
      uid,
      items: itemsOf.get(uid)!,
      row,
      inserted,
      created: [],
      added: 0,
      newSeries: 0,
      modalities: new Set(),
      recount: false,
    };
    return work;
  });
}

const earlier = (a: Date, b: Date) => (a.getTime() < b.getTime() ? a : b);
const later = (a: Date, b: Date) => (a.getTime() > b.getTime() ? a : b);

/** The study's worklist fields and times after its created instances (in batch order): the newest value wins. */
function merged(study: StudyRow, created: StudyWork['created']) {
  const m = {
    patientName: study.patientName ?? undefined,
    patientId: study.patientId ?? undefined,
    patientBirthDate: study.patientBirthDate,
    patientSex: study.patientSex,
    studyDate: study.studyDate,
    studyTime: study.studyTime,
    description: study.description,
    accessionNumber: study.accessionNumber,
    referringPhysician: study.referringPhysician,
    firstReceivedAt: study.firstReceivedAt,
    lastReceivedAt: study.lastReceivedAt,
    firstStoredAt: study.firstStoredAt,
    lastStoredAt: study.lastStoredAt,
  };
  for (const { item } of created) {
    const { d, input } = item;
    m.patientName = d.patient.name ?? m.patientName;
    m.patientId = d.patient.id ?? m.patientId;
    m.patientBirthDate = d.patient.birthDate ?? m.patientBirthDate;
    m.patientSex = d.patient.sex ?? m.patientSex;
    m.studyDate = d.study.date ?? m.studyDate;
    m.studyTime = d.study.time ?? m.studyTime;
    m.description = d.study.description ?? m.description;
    m.accessionNumber = d.study.accessionNumber ?? m.accessionNumber;
    m.referringPhysician = d.study.referringPhysician ?? m.referringPhysician;
    m.firstReceivedAt = earlier(d.receivedAt, m.firstReceivedAt);
    m.lastReceivedAt = later(d.receivedAt, m.lastReceivedAt);
    m.firstStoredAt = earlier(input.storedAt, m.firstStoredAt);
    m.lastStoredAt = later(input.storedAt, m.lastStoredAt);
  }
  return m;
}

/** The events a written study adds: created, reopened, and one per new version. */
function eventsOf(work: StudyWork, reopened: boolean): StudyEventRow[] {
  const studyId = work.row.id;
  const objectId = work.created[0]!.item.input.objectId;
  const events: StudyEventRow[] = [];
  if (work.inserted) events.push({ studyId, kind: 'created', detail: { objectId } });
  if (reopened) events.push({ studyId, kind: 'reopened', detail: { objectId } });
  for (const { item, result, previousObjectId } of work.created) {
    if (!result.newVersion) continue;
    events.push({
      studyId,
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

/**
 * Writes the study row after its created instances and answers its events; `receiving` again. The
 * same statement tells the study-completion queue (on commit) that the study took instances.
 */
export async function finishStudy(tx: Tx, work: StudyWork): Promise<StudyEventRow[]> {
  const study = work.row;
  if (work.created.length === 0) {
    // Only duplicates: nothing new, and no study made for them.
    if (work.inserted) await deleteStudy(tx, study.id);
    return [];
  }
  work.created.sort((a, b) => a.item.index - b.item.index);
  const reopened = !work.inserted && study.status === 'complete';
  work.created[0]!.result.studyCreated = work.inserted;
  work.created[0]!.result.reopened = reopened;
  const newVersion = work.created.some((c) => c.result.newVersion);
  const m = merged(study, work.created);
  await updateStudy(
    tx,
    study.id,
    {
      ...m,
      patientName: m.patientName ?? null,
      patientId: m.patientId ?? null,
      patientNameSearch: patientSearchKey(m.patientName),
      patientIdSearch: patientSearchKey(m.patientId),
      ...(work.recount
        ? studyCounts(study.id)
        : studyCountsPlus(work.added, work.newSeries, [...work.modalities].sort())),
      status: 'receiving',
      updated: study.updated || reopened || newVersion,
      completedAt: null,
    },
    studyRecordedNotice(study.id),
  );
  return eventsOf(work, reopened);
}

/** A study that lost a current version to another study counts its rows again, and is flagged updated. */
export async function recountLeftStudies(tx: Tx, studyIds: Iterable<string>): Promise<void> {
  for (const id of studyIds) await updateStudy(tx, id, { ...studyCounts(id), updated: true });
}
