import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import { gateways } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { requireAgent } from './permissions.js';

/**
 * Makes `publicKey` the gateway's current key. The key that signed this request becomes the
 * previous key, which verifyAgentToken keeps accepting until the agent's first token signed with
 * the new key; then it is dropped. A retry signed with the old key after a lost response (the
 * server already switched) therefore still succeeds and changes nothing.
 */
export async function rotateAgentKey({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { publicKey: JWK };
}): Promise<{ gatewayId: string; rotatedAt: Date }> {
  const agent = requireAgent(ctx.actor);
  return ctx.db.transaction(async (tx) => {
    const [gw] = await tx.select().from(gateways).where(eq(gateways.id, agent.gatewayId)).for('update');
    if (!gw || gw.revokedAt)
      throw new FerryError(
        'auth.reenroll',
        'this gateway is not enrolled (revoked or unknown); enroll it again',
      );
    const signingKey = agent.signedWith === 'previous' ? gw.previousPublicKey : gw.publicKey;
    if (!signingKey)
      throw new FerryError('auth.invalid_token', 'the key that signed this request is no longer registered');
    if (input.publicKey.x === signingKey.x)
      throw new FerryError(
        'request.invalid',
        'publicKey: the new key must differ from the key signing this call',
      );
    const rotatedAt = new Date();
    await tx
      .update(gateways)
      .set({ publicKey: input.publicKey, previousPublicKey: signingKey })
      .where(eq(gateways.id, gw.id));
    await writeAudit(tx, ctx, {
      action: 'gateway.rotate_key',
      targetType: 'gateway',
      targetId: gw.id,
      details: { signedWith: agent.signedWith ?? 'current' },
    });
    return { gatewayId: gw.id, rotatedAt };
  });
}
