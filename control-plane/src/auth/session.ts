import { randomBytes } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { settings, userRoles } from '../db/schema/index.js';

const SECRET_KEY = 'session_secret';
export const SESSION_TTL_SECONDS = 30 * 60;
const ISSUER = 'ferry-control-plane';

/** The HS256 session secret, shared by every replica through the database. */
export async function loadSessionSecret(db: Db): Promise<Uint8Array> {
  await db
    .insert(settings)
    .values({ key: SECRET_KEY, value: randomBytes(32).toString('base64url') })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, SECRET_KEY));
  if (!row) throw new Error('session secret missing after insert');
  return Buffer.from(row.value, 'base64url');
}

const claimsSchema = z.object({
  sub: z.uuid(),
  grp: z.uuid(),
  role: z.enum(userRoles),
  op: z.boolean(),
});
export type SessionClaims = z.infer<typeof claimsSchema>;

export function issueSessionToken(secret: Uint8Array, claims: SessionClaims): Promise<string> {
  return new SignJWT({ grp: claims.grp, role: claims.role, op: claims.op })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(ISSUER)
    .setAudience(ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${SESSION_TTL_SECONDS}s`)
    .sign(secret);
}

export async function verifySessionToken(secret: Uint8Array, token: string): Promise<SessionClaims> {
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: ISSUER,
    });
    const parsed = claimsSchema.safeParse(payload);
    if (!parsed.success) throw new FerryError('auth.invalid_token', 'session token has unexpected claims');
    return parsed.data;
  } catch (err) {
    if (err instanceof FerryError) throw err;
    if (err instanceof errors.JWTExpired)
      throw new FerryError('auth.expired_token', 'session expired; sign in again');
    throw new FerryError('auth.invalid_token', 'session token is not valid', { cause: err });
  }
}
