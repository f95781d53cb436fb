/**
 * Records the instances of one group: every study of theirs locked once (study-lifecycle.ts), new SOP
 * Instance UIDs written together in a few statements, known ones (new versions) and repeats within the
 * batch one by one, then each study written once.
 */
import type { Tx } from '../db/client.js';
import {
  type InstanceValues,
  type InstanceVersion,
  insertInstance,
  insertNewInstances,
  recountSeries,
  retireCurrentVersion,
  type SeriesAdd,
  upsertSeries,
  versionsOf,
} from '../db/queries/ingest-instances.js';
import type { StudyEventRow } from '../db/queries/ingest-studies.js';
import { ConcurrentRecordError, type Item, type RecordedInstance } from './recorded.js';
import { finishStudy, lockStudies, recountLeftStudies, type StudyWork } from './study-lifecycle.js';

/** Instance rows per INSERT (one jsonb parameter for all: about 3 KB a row with its header). */
const INSERT_CHUNK = 500;

function duplicateOf(item: Item, same: InstanceVersion): RecordedInstance {
  return {
    receipt: {
      objectId: item.input.objectId,
      sopInstanceUid: item.d.sopInstanceUid,
      sha256: item.input.sha256,
      objectSha256: same.objectSha256,
      storedAt: same.storedAt.toISOString(),
      duplicate: same.objectId !== item.input.objectId,
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

function createdResult(
  item: Item,
  ids: { instanceId: string; studyId: string; seriesId: string },
  version = 1,
  newVersion = false,
): RecordedInstance {
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
    version,
    studyCreated: false,
    reopened: false,
    newVersion,
  };
}

function instanceValues(item: Item, studyId: string, seriesId: string, version: number): InstanceValues {
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
    blobOffset: input.blobOffset ?? null,
    sha256: input.sha256,
    objectSha256: input.objectSha256,
    plainBytes: input.plainBytes,
    objectBytes: input.objectBytes,
    transportCoding: input.transportCoding ?? null,
    transferSyntaxUid: d.transferSyntaxUid,
    callingAeTitle: d.callingAeTitle,
    receivedAt: d.receivedAt,
    storedAt: input.storedAt,
    metadata: input.metadata,
  };
}

/** What the group's batch does beyond its studies: series to recount, other studies that lost a version. */
interface Leftovers {
  recountSeriesIds: Set<string>;
  otherStudies: Set<string>;
}

/**
 * One instance the slow way: its SOP Instance UID is known with other bytes (a new version), or came
 * twice in the batch. The study row is locked; its update comes later.
 */
async function recordOneByOne(
  tx: Tx,
  item: Item,
  work: StudyWork,
  left: Leftovers,
): Promise<RecordedInstance> {
  const { input, d } = item;
  const earlier = (await versionsOf(tx, input.groupId, [d.sopInstanceUid])).get(d.sopInstanceUid) ?? [];
  const same = earlier.find((v) => v.sha256 === input.sha256);
  if (same) return duplicateOf(item, same);
  const version = (earlier[0]?.version ?? 0) + 1;
  // The gateway's receive order decides which version is current, not the order uploads complete in:
  // packs in flight together, pipelined completes and retries after a failure all deliver out of order,
  // and an older send arriving last must not undo a correction. A tie keeps the later arrival.
  const current = earlier.find((e) => e.current);
  const supersedes = !current || current.receivedAt.getTime() <= d.receivedAt.getTime();
  const replaced = supersedes ? earlier.filter((e) => e.current) : [];

  const [ser] = await upsertSeries(tx, input.groupId, [
    { studyId: work.row.id, seriesUid: d.seriesUid, ...d.series, count: 1 },
  ]);
  if (!ser) throw new Error('series upsert returned no row');
  if (replaced.length > 0) await retireCurrentVersion(tx, input.groupId, d.sopInstanceUid);
  const instanceId = await insertInstance(tx, {
    ...instanceValues(item, work.row.id, ser.id, version),
    current: supersedes,
  });

  work.recount = true;
  left.recountSeriesIds.add(ser.id);
  for (const r of replaced) {
    left.recountSeriesIds.add(r.seriesId);
    // A replaced version in another study (a resend under a corrected Study Instance UID) leaves that one.
    if (r.studyId !== work.row.id) left.otherStudies.add(r.studyId);
  }
  const ids = { instanceId, studyId: work.row.id, seriesId: ser.id };
  const result = createdResult(item, ids, version, earlier.length > 0);
  work.created.push({ item, result, previousObjectId: earlier[0]?.objectId });
  return result;
}

type SeriesOf = Map<string, { id: string }>;
const seriesKey = (studyId: string, seriesUid: string) => `${studyId}\0${seriesUid}`;

/** Upserts the series of the fast items (in key order), noting new series and modalities per study. */
async function upsertFastSeries(
  tx: Tx,
  groupId: string,
  fast: Item[],
  workOf: Map<string, StudyWork>,
): Promise<SeriesOf> {
  const adds = new Map<string, SeriesAdd>();
  for (const { d } of fast) {
    const studyId = workOf.get(d.studyUid)!.row.id;
    const key = seriesKey(studyId, d.seriesUid);
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
  const seriesOf = new Map(upserted.map((s) => [seriesKey(s.studyId, s.seriesInstanceUid), s]));
  const workById = new Map([...workOf.values()].map((w) => [w.row.id, w]));
  for (const [key, a] of sorted) {
    const s = seriesOf.get(key);
    if (!s) throw new Error('series upsert returned no row');
    const work = workById.get(a.studyId)!;
    // The count is what this batch added: the series had no current instance before.
    if (s.instanceCount === a.count) work.newSeries++;
    if (s.modality !== null) work.modalities.add(s.modality);
  }
  return seriesOf;
}

/** New SOP Instance UIDs, together: their series in one statement, the instances in a few. */
async function recordFast(
  tx: Tx,
  groupId: string,
  fast: Item[],
  workOf: Map<string, StudyWork>,
  out: RecordedInstance[],
): Promise<void> {
  if (fast.length === 0) return;
  const seriesOf = await upsertFastSeries(tx, groupId, fast, workOf);
  const placeOf = (item: Item) => {
    const studyId = workOf.get(item.d.studyUid)!.row.id;
    return { studyId, seriesId: seriesOf.get(seriesKey(studyId, item.d.seriesUid))!.id };
  };
  const inserted = new Map<string, string>();
  for (let at = 0; at < fast.length; at += INSERT_CHUNK) {
    const rows = fast.slice(at, at + INSERT_CHUNK).map((item) => {
      const { studyId, seriesId } = placeOf(item);
      return instanceValues(item, studyId, seriesId, 1);
    });
    for (const r of await insertNewInstances(tx, rows)) inserted.set(r.sopInstanceUid, r.id);
  }
  // Skipped: another study's transaction stored the same bytes meanwhile. The counts added above
  // would be wrong; the next attempt sees those rows and answers duplicates.
  if (inserted.size !== fast.length) throw new ConcurrentRecordError();

  for (const item of fast) {
    const work = workOf.get(item.d.studyUid)!;
    const result = createdResult(item, {
      instanceId: inserted.get(item.d.sopInstanceUid)!,
      ...placeOf(item),
    });
    out[item.index] = result;
    work.created.push({ item, result });
    work.added++;
  }
}

/**
 * Sorts the items by what their SOP Instance UID is to the group: a duplicate (answered now), new
 * (fast, together), or known with other bytes or repeated in the batch (slow, one by one).
 */
function triage(items: Item[], versions: Map<string, InstanceVersion[]>, out: RecordedInstance[]) {
  const fast: Item[] = [];
  const slow: Item[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const sop = item.d.sopInstanceUid;
    const known = versions.get(sop);
    const same = known?.find((v) => v.sha256 === item.input.sha256);
    if (same) out[item.index] = duplicateOf(item, same);
    else if (known || seen.has(sop)) slow.push(item);
    else fast.push(item);
    seen.add(sop);
  }
  return { fast, slow };
}

/** Records the items of one group into `out` (by their index) and answers the study events to add. */
export async function recordGroup(
  tx: Tx,
  groupId: string,
  items: Item[],
  out: RecordedInstance[],
): Promise<StudyEventRow[]> {
  const works = await lockStudies(tx, groupId, items);
  const workOf = new Map(works.map((w) => [w.uid, w]));
  const versions = await versionsOf(tx, groupId, [...new Set(items.map((i) => i.d.sopInstanceUid))]);
  const { fast, slow } = triage(items, versions, out);
  await recordFast(tx, groupId, fast, workOf, out);

  const left: Leftovers = { recountSeriesIds: new Set(), otherStudies: new Set() };
  for (const item of slow)
    out[item.index] = await recordOneByOne(tx, item, workOf.get(item.d.studyUid)!, left);

  const events: StudyEventRow[] = [];
  for (const work of works) events.push(...(await finishStudy(tx, work)));
  await recountSeries(tx, [...left.recountSeriesIds]);
  // After every study of the batch is written (one of them may have lost a version too, after an
  // increment).
  await recountLeftStudies(tx, left.otherStudies);
  return events;
}
