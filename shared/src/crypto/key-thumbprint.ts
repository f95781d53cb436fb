import { calculateJwkThumbprint, type JWK } from 'jose';
import { assertRecipientJwk } from './keys.js';

/**
 * The RFC 7638 SHA-256 thumbprint (base64url, 43 characters) of a recipient key: what an operator
 * compares and what an agent pins at enrollment. Only the required members count, so the public and
 * the private JWK of one key, with or without kid/use, have the same thumbprint.
 */
export function recipientKeyThumbprint(jwk: JWK): Promise<string> {
  const { kty, crv, x } = assertRecipientJwk(jwk);
  return calculateJwkThumbprint({ kty, crv, x }, 'sha256');
}
