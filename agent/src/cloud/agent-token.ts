import { randomBytes } from 'node:crypto';
import { AGENT_TOKEN_MAX_SECONDS, FerryError } from '@ferry/shared';
import { importJWK, type JWK, SignJWT } from 'jose';

/** Default life of an agent token: one call, with room for a little clock skew. */
export const AGENT_TOKEN_LIFETIME_SECONDS = 60;

/**
 * Imported signing keys, by the JWK object they came from (a rotated key is a new object). Every
 * control-plane call signs a token, and importing the key cost more than signing with it.
 */
const imported = new WeakMap<JWK, { d: string; key: ReturnType<typeof importJWK> }>();

function signingKey(jwk: JWK, d: string): ReturnType<typeof importJWK> {
  const hit = imported.get(jwk);
  if (hit && hit.d === d) return hit.key;
  const key = importJWK(jwk, 'EdDSA');
  imported.set(jwk, { d, key });
  // A key that failed to import is tried again next time, and never an unhandled rejection.
  key.catch(() => imported.delete(jwk));
  return key;
}

/**
 * Signs a short-lived EdDSA JWT with the gateway's private key: `sub` is the gateway id, `aud`
 * the control plane's URL, and a random `jti` makes every token single-use.
 */
export async function signAgentToken(opts: {
  privateJwk: JWK;
  gatewayId: string;
  audience: string;
  lifetimeSeconds?: number;
  /** Seconds since the epoch; defaults to now (tests pass their own). */
  now?: number;
}): Promise<string> {
  const lifetime = opts.lifetimeSeconds ?? AGENT_TOKEN_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > AGENT_TOKEN_MAX_SECONDS)
    throw new FerryError(
      'config.invalid',
      `agent token lifetime must be 1 to ${AGENT_TOKEN_MAX_SECONDS} s, not ${lifetime}`,
    );
  if (typeof opts.privateJwk.d !== 'string')
    throw new FerryError('crypto.key_invalid', 'signing an agent token needs the private key');
  const key = await signingKey(opts.privateJwk, opts.privateJwk.d);
  const iat = opts.now ?? Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(opts.gatewayId)
    .setAudience(opts.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetime)
    .setJti(randomBytes(18).toString('base64url'))
    .sign(key);
}
