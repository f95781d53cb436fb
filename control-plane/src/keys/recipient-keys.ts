import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FerryError, generateRecipientKeyPair, PRIVATE_DIR_MODE } from '@ferry/shared';
import type { JWK } from 'jose';

export interface RecipientKeys {
  /** The key agents wrap for now (public part only). */
  publicJwk: JWK;
  /** Every private key kept, newest first: old ones still decrypt what was wrapped for them. */
  privateJwks: JWK[];
}

function publicOf(jwk: JWK): JWK {
  const { d: _d, ...pub } = jwk;
  return pub;
}

async function writeSet(file: string, keys: JWK[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** Loads the key set at `file` (a JWK or `{ keys: [...] }`), creating one at first start. */
export async function loadOrCreateRecipientKeys(file: string): Promise<RecipientKeys> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new FerryError('config.unreadable', `cannot read the key file ${file}`, { cause: err });
    }
  }
  if (text === undefined) {
    const { privateJwk } = await generateRecipientKeyPair();
    await writeSet(file, [privateJwk]);
    return { publicJwk: publicOf(privateJwk), privateJwks: [privateJwk] };
  }
  let keys: JWK[];
  try {
    const parsed = JSON.parse(text) as JWK | { keys: JWK[] };
    keys = 'keys' in parsed ? parsed.keys : [parsed];
  } catch (cause) {
    throw new FerryError('config.unreadable', `the key file ${file} is not JSON`, { cause });
  }
  const first = keys[0];
  if (!first || keys.some((k) => k.kty !== 'OKP' || k.crv !== 'X25519' || !k.d)) {
    throw new FerryError('crypto.key_invalid', `the key file ${file} must hold X25519 private JWKs`);
  }
  return { publicJwk: publicOf(first), privateJwks: keys };
}

/** Adds a new current key in front; the old ones stay for decryption. */
export async function rotateRecipientKeys(file: string): Promise<RecipientKeys> {
  const existing = await loadOrCreateRecipientKeys(file);
  const { privateJwk } = await generateRecipientKeyPair();
  const keys = [privateJwk, ...existing.privateJwks];
  await writeSet(file, keys);
  return { publicJwk: publicOf(privateJwk), privateJwks: keys };
}
