import { createHash, randomBytes } from 'node:crypto';

/** Prefix that makes a leaked enrollment token recognisable (secret scanners, log review). */
export const ENROLLMENT_TOKEN_PREFIX = 'fet_';

/** A fresh enrollment token: 256 random bits, base64url, with the `fet_` prefix. */
export function newEnrollmentToken(): string {
  return `${ENROLLMENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** What the database keeps instead of the token: its SHA-256, hex. */
export function hashEnrollmentToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
