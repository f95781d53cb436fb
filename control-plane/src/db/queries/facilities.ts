import { FerryError } from '@ferry/shared';
import { and, eq, ne } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { facilities } from '../schema/index.js';

export type FacilityRow = typeof facilities.$inferSelect;

/** The facility `id` in `groupId`, locked for the rest of the transaction when `lock` is set. */
export async function findFacility(
  db: DbOrTx,
  groupId: string,
  id: string,
  opts: { lock?: boolean } = {},
): Promise<FacilityRow | undefined> {
  const query = db
    .select()
    .from(facilities)
    .where(and(eq(facilities.groupId, groupId), eq(facilities.id, id)));
  const [row] = opts.lock ? await query.for('update') : await query;
  return row;
}

/** The facility `id` in `groupId`, or a 404 that does not tell another group's facility apart. */
export async function getFacilityOr404(
  db: DbOrTx,
  groupId: string,
  id: string,
  opts: { lock?: boolean } = {},
): Promise<FacilityRow> {
  const row = await findFacility(db, groupId, id, opts);
  if (!row) throw new FerryError('resource.not_found', `no facility ${id} in your group`);
  return row;
}

/** The facility of `groupId` that already holds `aeTitle` (other than `exceptId`), if any. */
export async function findAeTitleHolder(
  db: DbOrTx,
  groupId: string,
  aeTitle: string,
  exceptId?: string,
): Promise<FacilityRow | undefined> {
  const [row] = await db
    .select()
    .from(facilities)
    .where(
      and(
        eq(facilities.groupId, groupId),
        eq(facilities.aeTitle, aeTitle),
        exceptId ? ne(facilities.id, exceptId) : undefined,
      ),
    )
    .limit(1);
  return row;
}

export function aeTitleConflict(aeTitle: string, holderName: string | undefined): FerryError {
  return new FerryError(
    'resource.conflict',
    holderName === undefined
      ? `AE title "${aeTitle}" is already used by another facility`
      : `AE title "${aeTitle}" is already used by facility "${holderName}"`,
  );
}
