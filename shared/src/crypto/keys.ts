import { createHash, createHmac, randomBytes } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { FerryError } from '../errors/index.js';

export const KEY_WRAP_ALG = 'ECDH-ES+A256KW';

export function newDataKey(): Buffer {
  return randomBytes(32);
}

const OBJECT_KEY_INFO = Buffer.from('ferry/object/v1\x01', 'latin1');

/**
 * Per-object keys come from one wrapped epoch key, so an expensive ECDH wrap is not paid per
 * instance. RFC 5869 HKDF-SHA256 (salt = object id, one 32-byte block), written out with two HMACs
 * because node's hkdfSync builds key objects and costs ~70 µs per call on the receive path.
 */
export function deriveObjectKey(epochKey: Uint8Array, objectId: string): Buffer {
  const prk = createHmac('sha256', Buffer.from(objectId, 'utf8')).update(epochKey).digest();
  return createHmac('sha256', prk).update(OBJECT_KEY_INFO).digest();
}

export function assertRecipientJwk(jwk: unknown): JWK {
  const k = jwk as JWK | null;
  if (!k || typeof k !== 'object' || k.kty !== 'OKP' || k.crv !== 'X25519' || typeof k.x !== 'string') {
    throw new FerryError(
      'crypto.key_invalid',
      'recipient key must be an X25519 OKP JWK (kty "OKP", crv "X25519")',
    );
  }
  return k;
}

/** Key id from the RFC 7638 thumbprint inputs, so rotated keys can be told apart without extra state. */
export function keyIdOf(jwk: JWK): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

export async function wrapDataKey(dataKey: Uint8Array, recipient: JWK): Promise<string> {
  const pub = await importJWK(assertRecipientJwk({ ...recipient, d: undefined }), KEY_WRAP_ALG);
  return new CompactEncrypt(dataKey)
    .setProtectedHeader({ alg: KEY_WRAP_ALG, enc: 'A256GCM', kid: recipient.kid ?? keyIdOf(recipient) })
    .encrypt(pub);
}

/** Unwraps with whichever private key matches the JWE's kid; old keys stay usable after rotation. */
export async function unwrapDataKey(jwe: string, privateKeys: readonly JWK[]): Promise<Buffer> {
  let kid: string | undefined;
  try {
    const header = JSON.parse(Buffer.from(jwe.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
      kid?: string;
    };
    kid = header.kid;
  } catch (cause) {
    throw new FerryError('crypto.bad_object', 'wrapped key is not a compact JWE', { cause });
  }
  const candidates = privateKeys.filter((k) => (k.kid ?? keyIdOf(k)) === kid);
  for (const jwk of candidates.length > 0 ? candidates : privateKeys) {
    try {
      const key = await importJWK(jwk, KEY_WRAP_ALG);
      const { plaintext } = await compactDecrypt(jwe, key);
      return Buffer.from(plaintext);
    } catch {
      // try the next key: rotation keeps several
    }
  }
  throw new FerryError('crypto.unwrap_failed', 'no private key could unwrap the object key');
}

export async function generateRecipientKeyPair(): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ECDH-ES+A256KW', {
    crv: 'X25519',
    extractable: true,
  });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = keyIdOf(publicJwk);
  return { publicJwk: { ...publicJwk, kid, use: 'enc' }, privateJwk: { ...privateJwk, kid, use: 'enc' } };
}
