import { FerryError } from '@ferry/shared';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { userRoles } from '../db/schema/index.js';
import type { SecretBox } from '../keys/secret-box.js';
import { loadSharedSecret } from '../keys/shared-secret.js';

const SECRET_KEY = 'session_secret';
export const SESSION_TTL_SECONDS = 30 * 60;
const ISSUER = 'ferry-control-plane';

/** The HS256 session secret, shared by every replica through the database, sealed with the key file. */
export function loadSessionSecret(db: Db, box: SecretBox): Promise<Uint8Array> {
  return loadSharedSecret(db, box, SECRET_KEY);
}

const claimsSchema = z.object({
  sub: z.uuid(),
  grp: z.uuid(),
  role: z.enum(userRoles),
  op: z.boolean(),
  /** The user's session version when this was issued; a later sign-out, password change or deactivation bumps it. */
  sv: z.number().int().nonnegative(),
});
export type SessionClaims = z.infer<typeof claimsSchema>;

export function issueSessionToken(secret: Uint8Array, claims: SessionClaims): Promise<string> {
  return new SignJWT({ grp: claims.grp, role: claims.role, op: claims.op, sv: claims.sv })
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
