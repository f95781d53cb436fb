import { randomBytes } from 'node:crypto';
import { AGENT_TOKEN_MAX_SECONDS, FerryError } from '@ferry/shared';
import { importJWK, type JWK, SignJWT } from 'jose';

/** Default life of an agent token: one call, with room for a little clock skew. */
export const AGENT_TOKEN_LIFETIME_SECONDS = 60;

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
  const key = await importJWK(opts.privateJwk, 'EdDSA');
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
