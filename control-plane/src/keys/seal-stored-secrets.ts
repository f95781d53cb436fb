import { and, eq, notLike } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { webhooks } from '../db/schema/index.js';
import { WEBHOOK_SECRET_PURPOSE } from '../webhooks/signature.js';
import { SecretBox } from './secret-box.js';

/**
 * Seals webhook secrets that a version from before sealing stored in the clear, in place, at start
 * (the settings secrets are sealed as they are loaded, see loadSharedSecret). A row is updated only
 * if it still holds the plaintext read, so replicas starting together do not seal twice.
 */
export async function sealStoredWebhookSecrets(opts: {
  db: Db;
  box: SecretBox;
  log: Logger;
}): Promise<number> {
  const plain = await opts.db
    .select({ id: webhooks.id, secret: webhooks.secret })
    .from(webhooks)
    .where(notLike(webhooks.secret, 'fsec1.%'));
  for (const row of plain) {
    if (SecretBox.isSealed(row.secret)) continue;
    await opts.db
      .update(webhooks)
      .set({ secret: opts.box.seal(row.secret, WEBHOOK_SECRET_PURPOSE) })
      .where(and(eq(webhooks.id, row.id), eq(webhooks.secret, row.secret)));
  }
  if (plain.length > 0)
    opts.log.info(
      { event: 'secrets.sealed', webhooks: plain.length },
      'sealed webhook secrets stored in the clear',
    );
  return plain.length;
}
