/** Packs and their blobs (offer, the pack PUT, and the sweep that deletes unreferenced pack blobs). */
import { and, eq, getTableColumns, lt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { instances, packBlobs, packs, uploads } from '../schema/index.js';

export type PackRow = typeof packs.$inferSelect;
export type PackValues = typeof packs.$inferInsert;

export async function insertPacks(db: DbOrTx, rows: PackValues[]): Promise<void> {
  if (rows.length > 0) await db.insert(packs).values(rows);
}

/**
 * The pack and whether any of its members' uploads (of the pack's group) is still open, in one
 * statement: what the pack PUT needs before it takes the body.
 */
export async function packWithOpenMember(
  db: DbOrTx,
  id: string,
): Promise<(PackRow & { anyOpen: boolean }) | undefined> {
  const [row] = await db
    .select({
      ...getTableColumns(packs),
      anyOpen: sql<boolean>`exists (select 1 from ${uploads} where ${uploads.groupId} = ${packs.groupId}
        and ${uploads.state} = 'open'
        and ${uploads.id} in (select (m->>'uploadId')::uuid from jsonb_array_elements(${packs.members}) m))`,
    })
    .from(packs)
    .where(eq(packs.id, id));
  return row;
}

/** Recorded before the blob is written, so a write cut off leaves a row the sweep finds. */
export async function insertPackBlob(
  db: DbOrTx,
  row: { blobKey: string; groupId: string; packId: string },
): Promise<void> {
  await db.insert(packBlobs).values(row);
}

export async function deletePackBlobRow(db: DbOrTx, blobKey: string): Promise<void> {
  await db.delete(packBlobs).where(eq(packBlobs.blobKey, blobKey));
}

/**
 * Pack blobs written before `before` that no instance (current or not) and no open upload names:
 * nothing will read them again. Stored uploads keep the key they were verified from, but no reader
 * goes through them, and a stored upload whose instance is gone is reopened under a key of its own.
 */
export async function unreferencedPackBlobs(db: DbOrTx, before: Date, limit: number): Promise<string[]> {
  const rows = await db
    .select({ blobKey: packBlobs.blobKey })
    .from(packBlobs)
    .where(
      and(
        lt(packBlobs.createdAt, before),
        sql`not exists (select 1 from ${instances} where ${instances.blobKey} = ${packBlobs.blobKey})`,
        sql`not exists (select 1 from ${uploads} where ${uploads.blobKey} = ${packBlobs.blobKey} and ${uploads.state} = 'open')`,
      ),
    )
    .limit(limit);
  return rows.map((r) => r.blobKey);
}

/** Pack layouts handed out before `before`: their URLs expired long ago. */
export async function deletePacksBefore(db: DbOrTx, before: Date): Promise<void> {
  await db.delete(packs).where(lt(packs.createdAt, before));
}
