import type { Ctx } from '../context.js';
import { writeAudits } from './audit.js';
import { requireUser } from './permissions.js';

export type { StudyRef } from '../db/queries/studies.js';

/**
 * Audit actions of reads of patient data (filter the audit log by them):
 * - study.read: the study page, in the console or GET /api/v1/studies/{uid};
 * - study.download: the zip of the study;
 * - dicomweb.query: a QIDO-RS search answered with the study's attributes;
 * - dicomweb.retrieve: WADO-RS instances or metadata of the study.
 */
export type StudyReadAction = 'study.read' | 'study.download' | 'dicomweb.query' | 'dicomweb.retrieve';

export interface StudyRead {
  studyId: string;
  studyInstanceUid: string;
  /** What this request gave away of the study, e.g. { instances: 12 }. */
  details: Record<string, unknown>;
}

/**
 * Records the studies one request read: one audit row per study (who, which study, how much), all
 * in one insert. Called once the answer is known, so a refused or empty answer writes nothing.
 */
export async function recordStudyReads({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { action: StudyReadAction; reads: readonly StudyRead[] };
}): Promise<void> {
  const actor = requireUser(ctx.actor);
  await writeAudits(
    ctx.db,
    ctx,
    input.reads.map((r) => ({
      action: input.action,
      targetType: 'study',
      targetId: r.studyId,
      groupId: actor.groupId,
      details: { studyInstanceUid: r.studyInstanceUid, ...r.details },
    })),
  );
}

/** recordStudyReads for a request that read one study. */
export function recordStudyRead(
  ctx: Ctx,
  action: StudyReadAction,
  study: { id: string; studyInstanceUid: string },
  details: Record<string, unknown>,
): Promise<void> {
  return recordStudyReads({
    ctx,
    input: { action, reads: [{ studyId: study.id, studyInstanceUid: study.studyInstanceUid, details }] },
  });
}
