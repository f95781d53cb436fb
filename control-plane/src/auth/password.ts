import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { FerryError } from '@ferry/shared';

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * scrypt with N=2^17, r=8, p=1: 128 MiB and about a third of a second per hash on a small server,
 * the cost OWASP names for scrypt. Hashes stored with other parameters still verify (the stored form
 * carries them) and are rehashed at the next sign-in.
 */
export const PRODUCTION_PASSWORD_COST = 17;
export const MIN_PASSWORD_COST = 10;
export const MAX_PASSWORD_COST = 20;
let current: ScryptParams = { N: 1 << PRODUCTION_PASSWORD_COST, r: 8, p: 1 };
/** The hash burnPasswordCheck verifies against, made at the current cost. */
let dummy: Promise<string> | undefined;

/**
 * Sets log2 of scrypt's N for new hashes (FERRY_PASSWORD_COST). Only tests go below production's 17:
 * thousands of sign-ins at a third of a second each would dominate their run time.
 */
export function setPasswordCost(log2N: number): void {
  if (!Number.isInteger(log2N) || log2N < MIN_PASSWORD_COST || log2N > MAX_PASSWORD_COST)
    throw new FerryError(
      'config.invalid',
      `password cost must be an integer from ${MIN_PASSWORD_COST} to ${MAX_PASSWORD_COST}, not ${log2N}`,
    );
  current = { N: 1 << log2N, r: 8, p: 1 };
  dummy = undefined;
}

/** log2 of the N new hashes are made with. */
export function passwordCost(): number {
  return Math.log2(current.N);
}
const KEYLEN = 32;
/** Bounds on stored parameters, so a tampered row cannot make a sign-in allocate gigabytes. */
const MAX_N = 1 << 20;
const MAX_R = 16;
const MAX_P = 4;

/** scrypt needs 128·N·r bytes; Node refuses anything over maxmem (32 MiB by default), so give it room. */
function maxmemFor({ N, r }: ScryptParams): number {
  return 128 * N * r + (16 << 20);
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEYLEN, { ...params, maxmem: maxmemFor(params) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$key`, or undefined when the stored form is not one or its parameters are out of bounds. */
function parse(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const [scheme, n, r, p, salt, key, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key || rest.length > 0) return undefined;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const power = Number.isInteger(params.N) && params.N > 1 && (params.N & (params.N - 1)) === 0;
  if (!power || params.N > MAX_N) return undefined;
  if (!Number.isInteger(params.r) || params.r < 1 || params.r > MAX_R) return undefined;
  if (!Number.isInteger(params.p) || params.p < 1 || params.p > MAX_P) return undefined;
  return { params, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}

/** Hashes with the given parameters (tests make older hashes with it); the default is the current cost. */
export async function hashPassword(password: string, params: ScryptParams = current): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const actual = await derive(password, parsed.salt, parsed.params);
  return actual.length === parsed.key.length && timingSafeEqual(actual, parsed.key);
}

/** True when the stored hash was made with other parameters than today's: hash it again after a good sign-in. */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return (
    !parsed ||
    parsed.params.N !== current.N ||
    parsed.params.r !== current.r ||
    parsed.params.p !== current.p ||
    parsed.key.length !== KEYLEN
  );
}

/** A password for the first admin or an admin's reset: shown once, never stored in clear. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Spends the same time as a real check, so unknown e-mail addresses are not told apart by timing. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('not-a-real-password');
  await verifyPassword(password, await dummy);
}
