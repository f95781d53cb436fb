import type { Ctx } from '../context.js';
import { listStoredInstances, type StoredInstance } from './list-stored-instances.js';
import { requireUser } from './permissions.js';
import { recordStudyRead } from './record-study-reads.js';

export interface StudyArchiveEntry {
  /** `<series>/<instance>.dcm`, unique in the archive, only [0-9A-Za-z._-] and one slash. */
  name: string;
  objectId: string;
  blobKey: string;
  receivedAt: Date;
}

export interface StudyArchivePlan {
  studyInstanceUid: string;
  /** The archive's file name: the study UID, never patient data. */
  filename: string;
  entries: StudyArchiveEntry[];
}

const MAX_PART = 64;

/** A path segment made of safe characters only, never `.` or `..`. */
function safeSegment(s: string): string {
  const cleaned = s
    .replace(/[^0-9A-Za-z._-]/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, MAX_PART);
  return cleaned === '' ? '_' : cleaned;
}

function numberOrUid(n: string | number | null, uid: string): string {
  const t = n === null ? '' : String(n).trim();
  return safeSegment(t !== '' ? t : uid);
}

/** Directory per series, file per instance; number first, UID when it is missing or not unique. */
export function archiveEntryNames(list: readonly StoredInstance[]): string[] {
  const seriesUids = [...new Set(list.map((i) => i.seriesInstanceUid))];
  const seriesNumberOf = new Map(list.map((i) => [i.seriesInstanceUid, i.seriesNumber]));
  const dirCounts = new Map<string, number>();
  for (const uid of seriesUids) {
    const d = numberOrUid(seriesNumberOf.get(uid) ?? null, uid);
    dirCounts.set(d, (dirCounts.get(d) ?? 0) + 1);
  }
  const dirOf = new Map<string, string>();
  for (const uid of seriesUids) {
    const d = numberOrUid(seriesNumberOf.get(uid) ?? null, uid);
    dirOf.set(uid, (dirCounts.get(d) ?? 0) > 1 ? safeSegment(`${d}_${uid}`) : d);
  }
  const baseOf = (i: StoredInstance) => numberOrUid(i.instanceNumber, i.sopInstanceUid);
  const fileCounts = new Map<string, number>();
  for (const i of list) {
    const k = `${dirOf.get(i.seriesInstanceUid)}/${baseOf(i)}`;
    fileCounts.set(k, (fileCounts.get(k) ?? 0) + 1);
  }
  const used = new Set<string>();
  return list.map((i) => {
    const dir = dirOf.get(i.seriesInstanceUid) ?? '_';
    let base = baseOf(i);
    if ((fileCounts.get(`${dir}/${base}`) ?? 0) > 1) base = safeSegment(`${base}_${i.sopInstanceUid}`);
    let name = `${dir}/${base}.dcm`;
    // Truncation could still collide two long UIDs: number the later ones.
    for (let n = 2; used.has(name); n++) name = `${dir}/${base}_${n}.dcm`;
    used.add(name);
    return name;
  });
}

/**
 * What a study download holds: the current instances of one study of the caller's group, each with
 * its archive path. The download is audited (study.download). Another group's study is not found.
 * Readers and admins may download.
 */
export async function downloadStudy({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string };
}): Promise<StudyArchivePlan> {
  requireUser(ctx.actor);
  const { study, instances } = await listStoredInstances({ ctx, input: { studyUid: input.studyUid } });
  const names = archiveEntryNames(instances);
  await recordStudyRead(ctx, 'study.download', study, { instances: instances.length });
  return {
    studyInstanceUid: study.studyInstanceUid,
    filename: `study-${safeSegment(study.studyInstanceUid)}.zip`,
    entries: instances.map((i, n) => ({
      name: names[n] ?? `${n}.dcm`,
      objectId: i.objectId,
      blobKey: i.blobKey,
      receivedAt: i.receivedAt,
    })),
  };
}
