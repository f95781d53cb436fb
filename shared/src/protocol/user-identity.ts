import { z } from 'zod';

/**
 * The `userIdentity` gateway setting: which DICOM User Identity (PS3.7 D.3.3.7) a sender must present
 * to store. Kerberos and SAML are not offered: the gateway cannot verify a Kerberos ticket without a
 * KDC keytab, nor a SAML assertion without an XML-signature stack, and a check that only sees that
 * some bytes are present would let any sender through while looking like protection.
 */

/** scrypt cost bounds of a stored hash: each check runs on the association path, so a costly one would let a sender tie up the gateway. */
export const IDENTITY_SCRYPT_BOUNDS = { minN: 1 << 14, maxN: 1 << 16, maxR: 8, maxP: 2 } as const;

const HASH_WORDS =
  'must be a scrypt hash (scrypt$N$r$p$salt$key) made by `ferry-agent hash-password`, never the password itself';

/** The parts of a stored identity password hash, or undefined when it is not one within bounds. */
export function parseIdentityPasswordHash(
  stored: string,
): { N: number; r: number; p: number; salt: string; key: string } | undefined {
  const m = /^scrypt\$(\d{1,6})\$(\d{1,2})\$(\d)\$([A-Za-z0-9_-]{22,64})\$([A-Za-z0-9_-]{43})$/.exec(stored);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const b = IDENTITY_SCRYPT_BOUNDS;
  if ((N & (N - 1)) !== 0 || N < b.minN || N > b.maxN) return undefined;
  if (r < 1 || r > b.maxR || p < 1 || p > b.maxP) return undefined;
  return { N, r, p, salt: m[4]!, key: m[5]! };
}

const noControl = (v: string) => ![...v].some((ch) => ch < ' ' || ch === '\x7f');

const usernameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine(noControl, 'must not contain control characters');

const claimSchema = z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters');

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * A public signing key as a JWK: RSA, EC or OKP. Private members and symmetric keys ("k") are
 * refused, because the setting is pushed to every gateway and shown to the group's admins.
 */
const publicJwkSchema = z
  .looseObject({
    kty: z.enum(['RSA', 'EC', 'OKP'], { error: 'must be "RSA", "EC" or "OKP" (a public signing key)' }),
    kid: z.string().max(256).optional(),
    alg: z.string().max(16).optional(),
  })
  .refine((k) => PRIVATE_JWK_MEMBERS.every((m) => !(m in k)), {
    error: 'must be a public key: private members (d, p, q, …) and symmetric keys (k) are refused',
  })
  .refine((k) => Object.values(k).every((v) => typeof v !== 'string' || v.length <= 2048), {
    error: 'has a member longer than 2048 characters',
  })
  .refine(
    (k) =>
      k.kty === 'RSA'
        ? typeof k.n === 'string' && typeof k.e === 'string'
        : typeof k.crv === 'string' &&
          typeof k.x === 'string' &&
          (k.kty === 'OKP' || typeof k.y === 'string'),
    { error: 'lacks its public key members (RSA: n, e; EC: crv, x, y; OKP: crv, x)' },
  );

/** A `password` next to a username is refused in words: a password is never stored or pushed. */
const passwordRefused = (issue: { code?: string; keys?: string[] }) =>
  issue.code === 'unrecognized_keys' && issue.keys?.includes('password')
    ? 'a password is never stored: put its hash from `ferry-agent hash-password` in passwordHash'
    : undefined;

const uniqueUsernames = (users: { username: string }[]) =>
  new Set(users.map((u) => u.username)).size === users.length;

export const userIdentitySettingSchema = z.discriminatedUnion(
  'require',
  [
    z.object({ require: z.literal('none') }).strict(),
    /** A username (type 1, or the username of type 2); `usernames` empty accepts any. */
    z
      .object({ require: z.literal('username'), usernames: z.array(usernameSchema).max(1000).default([]) })
      .strict(),
    z
      .object({
        require: z.literal('username-password'),
        users: z
          .array(
            z.strictObject(
              {
                username: usernameSchema,
                passwordHash: z
                  .string({ error: HASH_WORDS })
                  .refine((v) => !!parseIdentityPasswordHash(v), HASH_WORDS),
              },
              { error: passwordRefused },
            ),
          )
          .min(1, 'must list at least one user')
          .max(1000)
          .refine(uniqueUsernames, 'must not list a username twice'),
      })
      .strict(),
    /** A JWT (type 5) signed by one of `jwks`' keys, not expired, with this issuer and audience if set. */
    z
      .object({
        require: z.literal('jwt'),
        jwks: z
          .object({ keys: z.array(publicJwkSchema).min(1, 'must hold at least one key').max(16) })
          .strict(),
        issuer: claimSchema.optional(),
        audience: claimSchema.optional(),
      })
      .strict(),
  ],
  { error: 'require must be "none", "username", "username-password" or "jwt"' },
);
export type UserIdentitySetting = z.infer<typeof userIdentitySettingSchema>;
