import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { settings } from '../db/schema/index.js';
import { SecretBox } from './secret-box.js';

/**
 * A random 32-byte secret every replica shares through the `settings` row `name`, stored sealed
 * (SecretBox). The first replica to start makes it; a row from before sealing is sealed in place.
 */
export async function loadSharedSecret(db: Db, box: SecretBox, name: string): Promise<Uint8Array> {
  await db
    .insert(settings)
    .values({ key: name, value: box.seal(randomBytes(32).toString('base64url'), name) })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, name));
  if (!row) throw new Error(`setting ${name} missing after insert`);
  if (SecretBox.isSealed(row.value)) return Buffer.from(box.open(row.value, name), 'base64url');
  // Sealed only if still the plaintext read: a replica that sealed it first keeps its (equal) value.
  await db
    .update(settings)
    .set({ value: box.seal(row.value, name) })
    .where(and(eq(settings.key, name), eq(settings.value, row.value)));
  return Buffer.from(row.value, 'base64url');
}
