import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { FerryError, keyIdOf } from '@ferry/shared';
import type { JWK } from 'jose';

const PREFIX = 'fsec1';
const SALT = Buffer.from('ferry/db-secrets/v1', 'utf8');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals the secrets the database holds (session signing, blob URL signing, webhook secrets) with
 * AES-256-GCM under a key that exists only in the key file (FERRY_KEY_FILE): HKDF-SHA256 of a
 * recipient private key. A database backup alone then cannot forge a session or a part URL.
 *
 *   fsec1.<kid>.<iv>.<ciphertext>.<tag>   (base64url; kid names the recipient key used)
 *
 * New values are sealed with the current key; the kid lets old ones open after `keys rotate`, as the
 * key file keeps old keys. `purpose` is the AAD: a value sealed for one use does not open as another.
 */
export class SecretBox {
  private readonly derived = new Map<string, Buffer>();

  /** `keys`: the recipient private keys, newest first, read at each use (they follow the key file). */
  constructor(private readonly keys: () => readonly JWK[]) {}

  static isSealed(stored: string): boolean {
    return stored.startsWith(`${PREFIX}.`);
  }

  seal(plaintext: string, purpose: string): string {
    const jwk = this.keys()[0];
    if (!jwk) throw new FerryError('crypto.key_invalid', 'the key file holds no key to seal secrets with');
    const kid = kidOf(jwk);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(kid, jwk), iv);
    cipher.setAAD(Buffer.from(purpose, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [PREFIX, kid, iv, ct, cipher.getAuthTag()]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  open(stored: string, purpose: string): string {
    const [prefix, kid, iv, ct, tag] = stored.split('.');
    if (prefix !== PREFIX || !kid || iv === undefined || ct === undefined || tag === undefined)
      throw new FerryError('crypto.secret_unreadable', `the stored ${purpose} is not a sealed secret`);
    const jwk = this.keys().find((k) => kidOf(k) === kid);
    if (!jwk)
      throw new FerryError(
        'crypto.secret_unreadable',
        `the stored ${purpose} was sealed with key ${kid}, which the key file (FERRY_KEY_FILE) does not hold: start with the key file this database was used with`,
      );
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keyFor(kid, jwk), Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(purpose, 'utf8'));
      const tagBytes = Buffer.from(tag, 'base64url');
      if (tagBytes.length !== TAG_BYTES) throw new Error('bad tag length');
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch (cause) {
      throw new FerryError(
        'crypto.secret_unreadable',
        `the stored ${purpose} does not open with key ${kid}`,
        {
          cause,
        },
      );
    }
  }

  private keyFor(kid: string, jwk: JWK): Buffer {
    let key = this.derived.get(kid);
    if (!key) {
      if (typeof jwk.d !== 'string')
        throw new FerryError('crypto.key_invalid', `key ${kid} in the key file has no private part`);
      key = Buffer.from(hkdfSync('sha256', Buffer.from(jwk.d, 'base64url'), SALT, kid, 32));
      this.derived.set(kid, key);
    }
    return key;
  }
}

function kidOf(jwk: JWK): string {
  return jwk.kid ?? keyIdOf(jwk);
}
