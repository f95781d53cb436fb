import type { UserIdentitySetting } from '@ferry/shared';

/**
 * The userIdentity setting as the console's fields hold it: the requirement, usernames one a line,
 * users as `username hash` lines (the hash pasted from `ferry-agent hash-password`), and a JWT's key
 * set (JSON), issuer and audience. Only text to value and back; the schema judges the value.
 */
export const IDENTITY_PARTS = ['require', 'usernames', 'users', 'jwks', 'issuer', 'audience'] as const;
export type IdentityPart = (typeof IDENTITY_PARTS)[number];
export type IdentityTexts = Record<IdentityPart, string>;

const lines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** The fields' text of a stored requirement (the users' hashes only where the caller was given them). */
export function identityTexts(value: unknown): IdentityTexts {
  const v = (value ?? { require: 'none' }) as Partial<Record<string, unknown>> & UserIdentitySetting;
  return {
    require: v.require,
    usernames: v.require === 'username' ? v.usernames.join('\n') : '',
    users:
      v.require === 'username-password'
        ? v.users
            .map((u) => [u.username, (u as { passwordHash?: string }).passwordHash ?? ''].join(' ').trim())
            .join('\n')
        : '',
    jwks: v.require === 'jwt' ? JSON.stringify(v.jwks, null, 2) : '',
    issuer: v.require === 'jwt' ? (v.issuer ?? '') : '',
    audience: v.require === 'jwt' ? (v.audience ?? '') : '',
  };
}

/** The requirement the fields describe; throws (with the field's name) when the key set is not JSON. */
export function identityValue(t: IdentityTexts): unknown {
  switch (t.require) {
    case 'username':
      return { require: 'username', usernames: lines(t.usernames) };
    case 'username-password':
      return {
        require: 'username-password',
        users: lines(t.users).map((line) => {
          const [username = '', ...hash] = line.split(/\s+/);
          return { username, passwordHash: hash.join(' ') };
        }),
      };
    case 'jwt': {
      let jwks: unknown;
      try {
        jwks = JSON.parse(t.jwks);
      } catch (err) {
        throw new Error(`jwks is not JSON: ${(err as Error).message}`);
      }
      return {
        require: 'jwt',
        jwks,
        ...(t.issuer.trim() ? { issuer: t.issuer.trim() } : {}),
        ...(t.audience.trim() ? { audience: t.audience.trim() } : {}),
      };
    }
    default:
      return { require: t.require };
  }
}
