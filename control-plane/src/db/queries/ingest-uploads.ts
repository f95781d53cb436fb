/** The upload sessions' SQL (offer, complete and part admission on the ingest path). */
import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../client.js';
import { uploads } from '../schema/index.js';
import { anyOf, arrayParam } from './array-params.js';
import { jsonRows } from './json-rows.js';

export type UploadRow = typeof uploads.$inferSelect;
export type UploadValues = typeof uploads.$inferInsert;

export function uploadsByIds(db: DbOrTx, groupId: string, ids: string[]): Promise<UploadRow[]> {
  return db
    .select()
    .from(uploads)
    .where(and(eq(uploads.groupId, groupId), anyOf(uploads.id, ids)));
}

export function uploadsByObjectIds(db: DbOrTx, groupId: string, objectIds: string[]): Promise<UploadRow[]> {
  return db
    .select()
    .from(uploads)
    .where(and(eq(uploads.groupId, groupId), anyOf(uploads.objectId, objectIds)));
}

/**
 * The ids of the uploads inserted (one statement, one jsonb parameter: see jsonRows); one whose group
 * and object id exist already is skipped. Every row sets the same columns.
 */
export async function insertUploads(db: DbOrTx, rows: UploadValues[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await db
    .insert(uploads)
    .select(jsonRows(uploads, rows))
    .onConflictDoNothing({ target: [uploads.groupId, uploads.objectId] })
    .returning({ id: uploads.id });
  return new Set(inserted.map((r) => r.id));
}

export async function setBackendUploadId(db: DbOrTx, id: string, backendUploadId: string | null) {
  await db.update(uploads).set({ backendUploadId }).where(eq(uploads.id, id));
}

export async function markOffered(db: DbOrTx, ids: string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.update(uploads).set({ lastOfferedAt: at }).where(anyOf(uploads.id, ids));
}

/** A stored upload whose instance left the index takes bytes again, under a new backend upload. */
export async function reopenUpload(
  db: DbOrTx,
  id: string,
  blobKey: string,
  backendUploadId: string | null,
  at: Date,
) {
  await db
    .update(uploads)
    .set({ state: 'open', completedAt: null, blobKey, blobOffset: null, backendUploadId, lastOfferedAt: at })
    .where(eq(uploads.id, id));
}

/**
 * Marks open uploads stored with their verified ciphertext hashes (one statement, the pairs as two
 * array parameters); answers the ids it moved (another complete may have taken some first).
 */
export async function markStored(
  tx: Tx,
  verified: { id: string; objectSha256: string }[],
  at: Date,
): Promise<Set<string>> {
  if (verified.length === 0) return new Set();
  const marked = await tx
    .update(uploads)
    .set({ state: 'stored', completedAt: at, objectSha256: sql`v.object_sha256` })
    .from(
      sql`unnest(${arrayParam(
        uploads.id,
        verified.map((v) => v.id),
      )}, ${arrayParam(
        uploads.objectSha256,
        verified.map((v) => v.objectSha256),
      )}) as v(id, object_sha256)`,
    )
    .where(and(eq(uploads.id, sql`v.id`), eq(uploads.state, 'open')))
    .returning({ id: uploads.id });
  return new Set(marked.map((m) => m.id));
}

/** Deletes the upload while it is open; false when it is gone or no longer open. */
export async function deleteOpenUpload(db: DbOrTx, id: string): Promise<boolean> {
  const dropped = await db
    .delete(uploads)
    .where(and(eq(uploads.id, id), eq(uploads.state, 'open')))
    .returning({ id: uploads.id });
  return dropped.length > 0;
}

export async function uploadStateOf(
  db: DbOrTx,
  id: string,
): Promise<Pick<UploadRow, 'state' | 'blobKey'> | undefined> {
  const [row] = await db
    .select({ state: uploads.state, blobKey: uploads.blobKey })
    .from(uploads)
    .where(eq(uploads.id, id));
  return row;
}

/**
 * Points the still-open uploads among a pack's members at the pack blob a PUT wrote (one statement);
 * answers the ids it moved. A member another PUT of the pack pointed elsewhere meanwhile is moved again:
 * either blob holds its bytes as checked.
 */
export async function placeInPack(
  db: DbOrTx,
  groupId: string,
  blobKey: string,
  members: { uploadId: string; offset: number }[],
): Promise<Set<string>> {
  if (members.length === 0) return new Set();
  const moved = await db
    .update(uploads)
    .set({ blobKey, blobOffset: sql`v.blob_offset` })
    .from(
      sql`unnest(${arrayParam(
        uploads.id,
        members.map((m) => m.uploadId),
      )}, ${arrayParam(
        uploads.blobOffset,
        members.map((m) => m.offset),
      )}) as v(id, blob_offset)`,
    )
    .where(and(eq(uploads.id, sql`v.id`), eq(uploads.groupId, groupId), eq(uploads.state, 'open')))
    .returning({ id: uploads.id });
  return new Set(moved.map((m) => m.id));
}
