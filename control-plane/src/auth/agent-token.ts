import { FerryError } from '@ferry/shared';
import { eq, lt } from 'drizzle-orm';
import { decodeJwt, errors, importJWK, type JWK, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Actor } from '../context.js';
import type { Db } from '../db/client.js';
import { agentTokenUses, gateways } from '../db/schema/index.js';

/** Agent tokens may live at most this long; the agent signs a fresh one per call or minute. */
export const AGENT_TOKEN_MAX_SECONDS = 5 * 60;

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
  const keys: JWK[] = [gw.publicKey, ...(gw.previousPublicKey ? [gw.previousPublicKey] : [])];
  let payload: z.infer<typeof claims> | undefined;
  let lastError: unknown;
  for (const jwk of keys) {
    try {
      const key = await importJWK(jwk, 'EdDSA');
      const verified = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        audience,
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      payload = claims.parse(verified.payload);
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (!payload) {
    if (lastError instanceof errors.JWTExpired)
      throw new FerryError('auth.expired_token', 'agent token expired');
    throw new FerryError('auth.invalid_token', 'agent token signature or claims are not valid', {
      cause: lastError,
    });
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
  return { kind: 'agent', gatewayId: gw.id, groupId: gw.groupId, facilityId: gw.facilityId };
}

/** Forgets jtis whose tokens have expired anyway. */
export async function pruneAgentTokenUses(db: Db): Promise<void> {
  await db.delete(agentTokenUses).where(lt(agentTokenUses.expiresAt, new Date()));
}
