import { AGENT_TOKEN_CLOCK_SKEW_SECONDS, AGENT_TOKEN_MAX_SECONDS, FerryError } from '@ferry/shared';
import { eq, lt } from 'drizzle-orm';
import { decodeJwt, errors, importJWK, type JWK, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Actor } from '../context.js';
import type { Db } from '../db/client.js';
import { recordAgentTokenUse } from '../db/queries/gateways.js';
import { agentTokenUses, gateways } from '../db/schema/index.js';

export { AGENT_TOKEN_CLOCK_SKEW_SECONDS, AGENT_TOKEN_MAX_SECONDS };

const claims = z.object({
  sub: z.uuid(),
  jti: z.string().min(16).max(128),
  iat: z.number(),
  exp: z.number(),
});

/**
 * How stale `gateways.last_seen_at` may get while the gateway keeps calling: it is written at most
 * once per this many ms per gateway. It only feeds the console's "last seen" (the latest of it and
 * the channel's heartbeat, which liveness and alerts use), shown to the second at best; writing it
 * on every request cost a statement and a row lock each.
 */
export const LAST_SEEN_RESOLUTION_MS = 5_000;

type Which = 'current' | 'previous';
interface CachedKey {
  jwk: JWK;
  key: Awaited<ReturnType<typeof importJWK>>;
}
interface GatewayKeys {
  current: CachedKey;
  previous: CachedKey | null;
}

/**
 * The public keys last read for each gateway, per database: a hint of which key to verify a token
 * with before the one statement that authenticates it. Never the decision: recordAgentTokenUse
 * checks in that same statement that the gateway exists, is not revoked and still has the key that
 * verified, so a revocation, deletion or rotation counts from the next request on every replica.
 * Holds public keys only; bounded, oldest entry first out.
 */
const keyCache = new WeakMap<object, Map<string, GatewayKeys>>();
const KEY_CACHE_MAX = 10_000;

function cacheOf(db: Db): Map<string, GatewayKeys> {
  let m = keyCache.get(db);
  if (!m) {
    m = new Map();
    keyCache.set(db, m);
  }
  return m;
}

async function cachedKey(jwk: JWK): Promise<CachedKey> {
  return { jwk, key: await importJWK(jwk, 'EdDSA') };
}

function reenroll(): FerryError {
  return new FerryError(
    'auth.reenroll',
    'this gateway is not enrolled (revoked or unknown); enroll it again',
    {
      details: { reenroll: true },
    },
  );
}

/**
 * The token's claims once one of `keys` signed it and its times are acceptable, and which key that
 * was; throws auth.expired_token, auth.token_not_yet_valid or auth.invalid_token otherwise.
 */
async function verifySigned(
  token: string,
  audience: string,
  keys: { cached: CachedKey; which: Which }[],
): Promise<{ payload: z.infer<typeof claims>; signedWith: Which; jwk: JWK }> {
  let lastError: unknown;
  // jose checks the signature before the claims: JWTExpired means one of the keys did sign it.
  let expired = false;
  for (const { cached, which } of keys) {
    try {
      const verified = await jwtVerify(token, cached.key, {
        algorithms: ['EdDSA'],
        audience,
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      const payload = claims.parse(verified.payload);
      checkTimes(payload);
      return { payload, signedWith: which, jwk: cached.jwk };
    } catch (err) {
      if (err instanceof FerryError) throw err;
      lastError = err;
      if (err instanceof errors.JWTExpired) expired = true;
    }
  }
  if (expired) throw new FerryError('auth.expired_token', 'agent token expired');
  throw new FerryError('auth.invalid_token', 'agent token signature or claims are not valid', {
    cause: lastError,
  });
}

// Checked here rather than by jose's maxTokenAge, which allows no future iat at all without also
// stretching exp. A token dated ahead could be kept and used once its time comes.
function checkTimes(payload: z.infer<typeof claims>): void {
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
}

/**
 * Verifies a JWT the agent signed itself (EdDSA) against its registered key. A revoked or unknown
 * gateway is told to re-enroll; a replayed jti is refused.
 *
 * One statement per request once the gateway's keys are known to this process (recordAgentTokenUse:
 * gateway, revocation, key, jti and last contact together); two the first time (the keys are read).
 * A token the known keys do not accept takes the first path again, so every refusal is the one a
 * fresh read of the gateway gives.
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
  const cache = cacheOf(db);
  const known = cache.get(sub);
  if (known) {
    const verified = await verifySigned(token, audience, keyList(known)).catch(() => undefined);
    if (verified) {
      const actor = await recordUse(db, sub, verified);
      if (actor === 'gone') {
        cache.delete(sub);
        throw reenroll();
      }
      if (actor !== 'rotated') {
        if (actor.signedWith === 'current') known.previous = null;
        return actor;
      }
      // Rotated since the keys were read: read them again below.
      cache.delete(sub);
    }
  }
  const [gw] = await db.select().from(gateways).where(eq(gateways.id, sub));
  if (!gw || gw.revokedAt) {
    cache.delete(sub);
    throw reenroll();
  }
  const keys: GatewayKeys = {
    current: await cachedKey(gw.publicKey),
    previous: gw.previousPublicKey ? await cachedKey(gw.previousPublicKey) : null,
  };
  if (cache.size >= KEY_CACHE_MAX && !cache.has(sub)) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(sub, keys);
  const actor = await recordUse(db, sub, await verifySigned(token, audience, keyList(keys)));
  if (actor === 'gone') throw reenroll();
  if (actor === 'rotated')
    throw new FerryError('auth.invalid_token', 'the key that signed this token is no longer registered');
  if (actor.signedWith === 'current') keys.previous = null;
  return actor;
}

function keyList(keys: GatewayKeys): { cached: CachedKey; which: Which }[] {
  return [
    { cached: keys.current, which: 'current' },
    ...(keys.previous ? [{ cached: keys.previous, which: 'previous' as const }] : []),
  ];
}

/**
 * Records the token's use (recordAgentTokenUse) and returns the actor; 'gone' when the gateway is
 * revoked or deleted, 'rotated' when the key that verified is no longer one of its keys.
 */
async function recordUse(
  db: Db,
  gatewayId: string,
  verified: { payload: z.infer<typeof claims>; jwk: JWK },
): Promise<Extract<Actor, { kind: 'agent' }> | 'gone' | 'rotated'> {
  const use = await recordAgentTokenUse(db, {
    gatewayId,
    publicKey: verified.jwk,
    jti: verified.payload.jti,
    expiresAt: new Date(verified.payload.exp * 1000),
    now: new Date(),
    lastSeenResolutionMs: LAST_SEEN_RESOLUTION_MS,
  });
  if (!use.found || use.revoked) return 'gone';
  if (use.signedWith === null) return 'rotated';
  if (!use.recorded) throw new FerryError('auth.replayed_token', 'agent token was already used');
  return {
    kind: 'agent',
    gatewayId,
    groupId: use.groupId,
    facilityId: use.facilityId,
    signedWith: use.signedWith,
  };
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
