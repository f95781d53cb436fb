/** The ingest path's SQL on instances, series and facilities (ingest/record-*.ts). */
import { and, desc, eq, or, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../client.js';
import { facilities, instances, series } from '../schema/index.js';
import { anyOf } from './array-params.js';
import { jsonRows } from './json-rows.js';

export type InstanceValues = typeof instances.$inferInsert;

/** What a receipt needs of a stored instance. */
export interface StoredInstanceRef {
  objectId: string;
  sopInstanceUid: string;
  sha256: string;
  objectSha256: string;
  storedAt: Date;
}

export function instanceKey(sopInstanceUid: string, sha256: string): string {
  return `${sopInstanceUid}\0${sha256}`;
}

/** Instances of `groupId` with any of these SOP Instance UIDs (one query), keyed by instanceKey. */
export async function storedInstancesBySopAndHash(
  db: DbOrTx,
  groupId: string,
  sopInstanceUids: string[],
): Promise<Map<string, StoredInstanceRef>> {
  const found = new Map<string, StoredInstanceRef>();
  if (sopInstanceUids.length === 0) return found;
  const rows = await db
    .select({
      objectId: instances.objectId,
      sopInstanceUid: instances.sopInstanceUid,
      sha256: instances.sha256,
      objectSha256: instances.objectSha256,
      storedAt: instances.storedAt,
    })
    .from(instances)
    .where(
      and(eq(instances.groupId, groupId), anyOf(instances.sopInstanceUid, [...new Set(sopInstanceUids)])),
    );
  for (const r of rows) found.set(instanceKey(r.sopInstanceUid, r.sha256), r);
  return found;
}

const versionColumns = {
  id: instances.id,
  version: instances.version,
  current: instances.current,
  sha256: instances.sha256,
  objectId: instances.objectId,
  objectSha256: instances.objectSha256,
  storedAt: instances.storedAt,
  receivedAt: instances.receivedAt,
  studyId: instances.studyId,
  seriesId: instances.seriesId,
  sopInstanceUid: instances.sopInstanceUid,
};

export interface InstanceVersion {
  id: string;
  version: number;
  current: boolean;
  sha256: string;
  objectId: string;
  objectSha256: string;
  storedAt: Date;
  /** When the gateway received it: the order of versions (see record-group.ts). */
  receivedAt: Date;
  studyId: string;
  seriesId: string;
  sopInstanceUid: string;
}

/** Every stored version of these SOP Instance UIDs in the group (one query), newest first per UID. */
export async function versionsOf(
  tx: Tx,
  groupId: string,
  sopInstanceUids: string[],
): Promise<Map<string, InstanceVersion[]>> {
  const rows: InstanceVersion[] = await tx
    .select(versionColumns)
    .from(instances)
    .where(and(eq(instances.groupId, groupId), anyOf(instances.sopInstanceUid, sopInstanceUids)))
    .orderBy(desc(instances.version));
  const bySop = new Map<string, InstanceVersion[]>();
  for (const r of rows) {
    const list = bySop.get(r.sopInstanceUid);
    if (list) list.push(r);
    else bySop.set(r.sopInstanceUid, [r]);
  }
  return bySop;
}

/** New instances in one statement; a row whose group, SOP Instance UID and hash exist is skipped. */
export function insertNewInstances(tx: Tx, rows: InstanceValues[]) {
  return tx
    .insert(instances)
    .select(jsonRows(instances, rows))
    .onConflictDoNothing({ target: [instances.groupId, instances.sopInstanceUid, instances.sha256] })
    .returning({ id: instances.id, sopInstanceUid: instances.sopInstanceUid });
}

export async function insertInstance(tx: Tx, row: InstanceValues): Promise<string> {
  const [inst] = await tx.insert(instances).values(row).returning({ id: instances.id });
  if (!inst) throw new Error('instance insert returned no row');
  return inst.id;
}

/** The group's current version of a SOP Instance UID stops being current (a new one follows). */
export async function retireCurrentVersion(tx: Tx, groupId: string, sopInstanceUid: string): Promise<void> {
  await tx
    .update(instances)
    .set({ current: false })
    .where(
      and(
        eq(instances.groupId, groupId),
        eq(instances.sopInstanceUid, sopInstanceUid),
        eq(instances.current, true),
      ),
    );
}

/** A series to create, or to add `count` current instances to. */
export interface SeriesAdd {
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
export async function upsertSeries(tx: Tx, groupId: string, adds: SeriesAdd[]) {
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

export async function recountSeries(tx: Tx, seriesIds: string[]): Promise<void> {
  if (seriesIds.length === 0) return;
  await tx
    .update(series)
    .set({
      instanceCount: sql`(select count(*)::int from ${instances} where ${instances.seriesId} = ${series.id} and ${instances.current})`,
    })
    .where(anyOf(series.id, seriesIds));
}

/** The first of these facility and group pairs that names no facility of that group, if any. */
export async function firstForeignFacility(
  tx: Tx,
  pairs: { facilityId: string; groupId: string }[],
): Promise<{ facilityId: string; groupId: string } | undefined> {
  const conditions: SQL[] = pairs.map(
    (p) => and(eq(facilities.id, p.facilityId), eq(facilities.groupId, p.groupId)) as SQL,
  );
  const found = await tx
    .select({ id: facilities.id, groupId: facilities.groupId })
    .from(facilities)
    .where(or(...conditions));
  const ok = new Set(found.map((f) => `${f.id}\0${f.groupId}`));
  return pairs.find((p) => !ok.has(`${p.facilityId}\0${p.groupId}`));
}
