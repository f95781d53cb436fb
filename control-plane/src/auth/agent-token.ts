import { AGENT_TOKEN_CLOCK_SKEW_SECONDS, AGENT_TOKEN_MAX_SECONDS, FerryError } from '@ferry/shared';
import { and, eq, lt, sql } from 'drizzle-orm';
import { decodeJwt, errors, importJWK, type JWK, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Actor } from '../context.js';
import type { Db } from '../db/client.js';
import { agentTokenUses, gateways } from '../db/schema/index.js';

export { AGENT_TOKEN_CLOCK_SKEW_SECONDS, AGENT_TOKEN_MAX_SECONDS };

const claims = z.object({
  sub: z.uuid(),
  jti: z.string().min(16).max(128),
  iat: z.number(),
  exp: z.number(),
});

/**
 * Verifies a JWT the agent signed itself (EdDSA) against its registered key. A revoked or unknown
 * gateway is told to re-enroll; a replayed jti is refused.
 */
export async function verifyAgentToken(
  db: Db,
  token: string,
  audience: string,
): Promise<Extract<Actor, { kind: 'agent' }>> {
  let sub: string;
  try {
    sub = claims.shape.sub.parse(decodeJwt(token).sub);
  } catch (cause) {
    throw new FerryError('auth.invalid_token', 'agent token is malformed', { cause });
  }
  const [gw] = await db.select().from(gateways).where(eq(gateways.id, sub));
  if (!gw || gw.revokedAt) {
    throw new FerryError(
      'auth.reenroll',
      'this gateway is not enrolled (revoked or unknown); enroll it again',
      {
        details: { reenroll: true },
      },
    );
  }
  const keys: { jwk: JWK; which: 'current' | 'previous' }[] = [
    { jwk: gw.publicKey, which: 'current' },
    ...(gw.previousPublicKey ? [{ jwk: gw.previousPublicKey, which: 'previous' as const }] : []),
  ];
  let payload: z.infer<typeof claims> | undefined;
  let signedWith: 'current' | 'previous' = 'current';
  let lastError: unknown;
  // jose checks the signature before the claims: JWTExpired means one of the keys did sign it.
  let expired = false;
  for (const { jwk, which } of keys) {
    try {
      const key = await importJWK(jwk, 'EdDSA');
      const verified = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        audience,
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      payload = claims.parse(verified.payload);
      signedWith = which;
      break;
    } catch (err) {
      lastError = err;
      if (err instanceof errors.JWTExpired) expired = true;
    }
  }
  if (!payload) {
    if (expired) throw new FerryError('auth.expired_token', 'agent token expired');
    throw new FerryError('auth.invalid_token', 'agent token signature or claims are not valid', {
      cause: lastError,
    });
  }
  // Checked here rather than by jose's maxTokenAge, which allows no future iat at all without also
  // stretching exp. A token dated ahead could be kept and used once its time comes.
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat < now - AGENT_TOKEN_MAX_SECONDS) {
    throw new FerryError(
      'auth.expired_token',
      `agent token was issued more than ${AGENT_TOKEN_MAX_SECONDS} s ago`,
    );
  }
  if (payload.iat > now + AGENT_TOKEN_CLOCK_SKEW_SECONDS) {
    throw new FerryError(
      'auth.token_not_yet_valid',
      `agent token was issued in the future (more than ${AGENT_TOKEN_CLOCK_SKEW_SECONDS} s ahead of the control plane's clock): check the gateway's time (NTP)`,
    );
  }
  if (payload.exp - payload.iat > AGENT_TOKEN_MAX_SECONDS) {
    throw new FerryError('auth.invalid_token', `agent token lifetime exceeds ${AGENT_TOKEN_MAX_SECONDS} s`);
  }
  const inserted = await db
    .insert(agentTokenUses)
    .values({ jti: payload.jti, gatewayId: gw.id, expiresAt: new Date(payload.exp * 1000) })
    .onConflictDoNothing()
    .returning({ jti: agentTokenUses.jti });
  if (inserted.length === 0) throw new FerryError('auth.replayed_token', 'agent token was already used');
  await db.update(gateways).set({ lastSeenAt: new Date() }).where(eq(gateways.id, gw.id));
  // After a rotation the old key stays valid until the agent proves it holds the new one: the first
  // token signed with the current key retires the previous key for good. Guarded by the key that
  // verified, so a rotation that lands meanwhile keeps its own previous key.
  if (signedWith === 'current' && gw.previousPublicKey !== null) {
    await db
      .update(gateways)
      .set({ previousPublicKey: null })
      .where(
        and(eq(gateways.id, gw.id), sql`${gateways.publicKey} = ${JSON.stringify(gw.publicKey)}::jsonb`),
      );
  }
  return { kind: 'agent', gatewayId: gw.id, groupId: gw.groupId, facilityId: gw.facilityId, signedWith };
}

/**
 * Forgets the jtis of tokens that would be refused anyway: expired (with the clock-skew allowance as a
 * margin), hence also issued more than AGENT_TOKEN_MAX_SECONDS ago. Returns how many rows went.
 */
export async function pruneAgentTokenUses(db: Db, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - AGENT_TOKEN_CLOCK_SKEW_SECONDS * 1000);
  const gone = await db
    .delete(agentTokenUses)
    .where(lt(agentTokenUses.expiresAt, before))
    .returning({ jti: agentTokenUses.jti });
  return gone.length;
}
