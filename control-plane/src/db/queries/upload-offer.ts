/** The upload offer's reads (services/offer-uploads.ts). */
import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { instances, uploads } from '../schema/index.js';
import { anyOf } from './array-params.js';
import { instanceKey, type StoredInstanceRef } from './ingest-instances.js';
import type { UploadRow } from './ingest-uploads.js';

/** A stored instance as json_build_object gives it: the timestamp as text. */
type StoredJson = Omit<StoredInstanceRef, 'storedAt'> & { storedAt: string };

/**
 * What an offer needs to know, in one statement: the group's stored instances with any of these SOP
 * Instance UIDs (keyed by instanceKey, as storedInstancesBySopAndHash) and the group's uploads of
 * these object ids (as uploadsByObjectIds). The instances come as one json column of a one-row
 * select that the uploads are left-joined to, so the uploads keep drizzle's row mapping.
 */
export async function offerLookups(
  db: DbOrTx,
  groupId: string,
  sopInstanceUids: string[],
  objectIds: string[],
): Promise<{ stored: Map<string, StoredInstanceRef>; uploads: UploadRow[] }> {
  const sops = [...new Set(sopInstanceUids)];
  const stored = sql<StoredJson[]>`(
    select coalesce(json_agg(json_build_object(
      'objectId', ${instances.objectId}, 'sopInstanceUid', ${instances.sopInstanceUid},
      'sha256', ${instances.sha256}, 'objectSha256', ${instances.objectSha256},
      'storedAt', ${instances.storedAt})), '[]'::json)
    from ${instances} where ${instances.groupId} = ${groupId} and ${anyOf(instances.sopInstanceUid, sops)})`;
  const rows = await db
    .select({ stored: sql<StoredJson[]>`one.stored`, upload: uploads })
    .from(sql`(select ${stored} as stored) one`)
    .leftJoin(uploads, and(eq(uploads.groupId, groupId), anyOf(uploads.objectId, objectIds)));
  const found = new Map<string, StoredInstanceRef>();
  for (const r of rows[0]?.stored ?? [])
    found.set(instanceKey(r.sopInstanceUid, r.sha256), { ...r, storedAt: new Date(r.storedAt) });
  return { stored: found, uploads: rows.flatMap((r) => (r.upload ? [r.upload] : [])) };
}
