import { and, asc, desc, eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import type { DbOrTx } from '../db/client.js';
import { getStudyOr404, instanceOrder, type StudySummary, selectStudySeries } from '../db/queries/studies.js';
import { instances, studyEvents } from '../db/schema/index.js';
import { requireUser } from './permissions.js';
import { recordStudyRead } from './record-study-reads.js';

/** One stored version of an instance. */
export interface InstanceVersion {
  version: number;
  current: boolean;
  objectId: string;
  plainBytes: number;
  objectBytes: number;
  /** SHA-256 of the Part-10 file. */
  sha256: string;
  /** SHA-256 of the sealed object as stored. */
  objectSha256: string;
  transferSyntaxUid: string;
  callingAeTitle: string;
  /** When the gateway received it. */
  receivedAt: Date;
  /** When the control plane had verified and stored it. */
  storedAt: Date;
}

export interface StudyInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  numberOfFrames: number | null;
  /** Newest first; at most one is current (none when a resend moved it to another study). */
  versions: InstanceVersion[];
}

export interface StudySeries {
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: string | null;
  description: string | null;
  /** Current instances. */
  instanceCount: number;
  instances: StudyInstance[];
}

export interface StudyEvent {
  kind: string;
  at: Date;
  detail: Record<string, unknown>;
}

export interface StudyDetail {
  study: StudySummary;
  series: StudySeries[];
  /** Study events (created, completed, reopened, new_version) in time order. */
  events: StudyEvent[];
}

/** The columns of `instances` that describe one stored version of an instance, with its series. */
export const instanceVersionColumns = {
  seriesId: instances.seriesId,
  sopInstanceUid: instances.sopInstanceUid,
  sopClassUid: instances.sopClassUid,
  instanceNumber: instances.instanceNumber,
  numberOfFrames: instances.numberOfFrames,
  version: instances.version,
  current: instances.current,
  objectId: instances.objectId,
  plainBytes: instances.plainBytes,
  objectBytes: instances.objectBytes,
  sha256: instances.sha256,
  objectSha256: instances.objectSha256,
  transferSyntaxUid: instances.transferSyntaxUid,
  callingAeTitle: instances.callingAeTitle,
  receivedAt: instances.receivedAt,
  storedAt: instances.storedAt,
};

export type InstanceVersionRow = InstanceVersion & {
  seriesId: string;
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  numberOfFrames: number | null;
};

/**
 * Version rows (each instance's newest first) as instances with their versions, by series id, in the
 * order the rows came. The current version describes the instance.
 */
export function groupInstanceVersions(rows: readonly InstanceVersionRow[]): Map<string, StudyInstance[]> {
  const bySeries = new Map<string, StudyInstance[]>();
  const byInstance = new Map<string, StudyInstance>();
  for (const row of rows) {
    const k = `${row.seriesId}/${row.sopInstanceUid}`;
    let inst = byInstance.get(k);
    if (!inst) {
      inst = {
        sopInstanceUid: row.sopInstanceUid,
        sopClassUid: row.sopClassUid,
        instanceNumber: row.instanceNumber,
        numberOfFrames: row.numberOfFrames,
        versions: [],
      };
      byInstance.set(k, inst);
      const list = bySeries.get(row.seriesId);
      if (list) list.push(inst);
      else bySeries.set(row.seriesId, [inst]);
    }
    const {
      seriesId: _s,
      sopInstanceUid: _u,
      sopClassUid: _c,
      instanceNumber: _n,
      numberOfFrames: _f,
      ...v
    } = row;
    if (v.current) {
      inst.sopClassUid = row.sopClassUid;
      inst.instanceNumber = row.instanceNumber;
      inst.numberOfFrames = row.numberOfFrames;
    }
    inst.versions.push(v);
  }
  return bySeries;
}

/** A study's events (created, completed, reopened, new_version) in time order. */
export function selectStudyEvents(db: DbOrTx, studyId: string): Promise<StudyEvent[]> {
  return db
    .select({ kind: studyEvents.kind, at: studyEvents.at, detail: studyEvents.detail })
    .from(studyEvents)
    .where(eq(studyEvents.studyId, studyId))
    .orderBy(asc(studyEvents.at), asc(studyEvents.id));
}

/**
 * One study of the caller's group with its series, every instance and each instance's stored versions,
 * and its events. Another group's study is not found (404, never 403). Readers and admins may read;
 * each read is audited (study.read).
 */
export async function getStudy({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string };
}): Promise<StudyDetail> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);

  const seriesRows = await selectStudySeries(ctx.db, actor.groupId, study.id);

  const instanceRows = await ctx.db
    .select(instanceVersionColumns)
    .from(instances)
    .where(and(eq(instances.groupId, actor.groupId), eq(instances.studyId, study.id)))
    .orderBy(...instanceOrder(instances), desc(instances.version));

  const events = await selectStudyEvents(ctx.db, study.id);

  const bySeries = new Map<string, StudySeries>();
  const out: StudySeries[] = seriesRows.map(({ id, ...s }) => {
    const entry: StudySeries = { ...s, instances: [] };
    bySeries.set(id, entry);
    return entry;
  });
  const grouped = groupInstanceVersions(instanceRows);
  for (const [seriesId, list] of grouped) bySeries.get(seriesId)?.instances.push(...list);
  const instanceTotal = [...grouped.values()].reduce((n, list) => n + list.length, 0);
  await recordStudyRead(ctx, 'study.read', study, { instances: instanceTotal });
  return { study, series: out, events };
}
