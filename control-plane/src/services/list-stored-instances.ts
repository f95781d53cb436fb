import type { Ctx } from '../context.js';
import {
  assertScopeFound,
  getStudyOr404,
  inCurrentInstances,
  instanceBlobLocation,
  instanceOrder,
  seriesOrder,
} from '../db/queries/studies.js';
import { instances, series } from '../db/schema/index.js';
import { requireUser } from './permissions.js';

/** A current instance and where its sealed object lives: what a download or WADO-RS retrieve opens. */
export interface StoredInstance {
  seriesInstanceUid: string;
  seriesNumber: string | null;
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  objectId: string;
  blobKey: string;
  plainBytes: number;
  transferSyntaxUid: string;
  receivedAt: Date;
}

export interface StoredInstances {
  study: { id: string; studyInstanceUid: string };
  /** In series order (by number, then UID), then instance order (by number, then UID). */
  instances: StoredInstance[];
}

/**
 * The current instances of one study of the caller's group, or of one series or one instance of it,
 * with their blob keys. Not found (404) when the study is not the group's, or the series or instance
 * holds no current instance. Readers and admins may read.
 */
export async function listStoredInstances({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { studyUid: string; seriesUid?: string | undefined; sopInstanceUid?: string | undefined };
}): Promise<StoredInstances> {
  const actor = requireUser(ctx.actor);
  const study = await getStudyOr404(ctx.db, actor.groupId, input.studyUid);
  const rows = await inCurrentInstances(
    ctx.db
      .select({
        seriesInstanceUid: series.seriesInstanceUid,
        seriesNumber: series.seriesNumber,
        sopInstanceUid: instances.sopInstanceUid,
        sopClassUid: instances.sopClassUid,
        instanceNumber: instances.instanceNumber,
        objectId: instances.objectId,
        blobKey: instanceBlobLocation,
        plainBytes: instances.plainBytes,
        transferSyntaxUid: instances.transferSyntaxUid,
        receivedAt: instances.receivedAt,
      })
      .from(instances)
      .$dynamic(),
    actor.groupId,
    study.id,
    input,
  ).orderBy(...seriesOrder(series), ...instanceOrder(instances));
  assertScopeFound(rows.length > 0, input);
  return { study: { id: study.id, studyInstanceUid: study.studyInstanceUid }, instances: rows };
}
