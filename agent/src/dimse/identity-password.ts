import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { parseIdentityPasswordHash } from '@ferry/shared';

/**
 * Passwords of the `userIdentity` setting, which only ever holds their scrypt hashes. A hash is
 * checked on the association path, so the cost is lower than a console sign-in's (N=2^15, r=8:
 * 32 MiB, about 80 ms here) and bounded by IDENTITY_SCRYPT_BOUNDS; at most two checks run at once
 * and the rest wait their turn (ARTIM bounds the wait); a password that matched is remembered, so a
 * modality opening an association per study pays once.
 */
const PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEYLEN = 32;
const MAX_CONCURRENT = 2;
const REMEMBERED = 256;

function derive(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r + (16 << 20);
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEYLEN, { ...params, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$key` of `password`: what an admin puts in the setting instead of the password. */
export async function hashIdentityPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

let running = 0;
const waiting: (() => void)[] = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((go) => waiting.push(go));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Digests of (hash, password) pairs that matched, oldest first; never the password itself. */
const matched = new Set<string>();

const pairDigest = (stored: string, password: string) =>
  createHash('sha256').update(stored).update('\0').update(password).digest('base64url');

/** True when `password` matches the stored hash; a hash out of bounds matches nothing. */
export async function verifyIdentityPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseIdentityPasswordHash(stored);
  if (!parsed) return false;
  const digest = pairDigest(stored, password);
  if (matched.has(digest)) return true;
  const expected = Buffer.from(parsed.key, 'base64url');
  const actual = await limited(() => derive(password, Buffer.from(parsed.salt, 'base64url'), parsed));
  const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
  if (ok) {
    matched.add(digest);
    if (matched.size > REMEMBERED) matched.delete(matched.values().next().value as string);
  }
  return ok;
}

let dummy: Promise<string> | undefined;

/** Spends what a real check costs, so an unknown username is not told apart from a wrong password by timing. */
export async function burnIdentityPasswordCheck(password: string): Promise<void> {
  dummy ??= hashIdentityPassword(randomBytes(12).toString('base64url'));
  await verifyIdentityPassword(password, await dummy);
}
