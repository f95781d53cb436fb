import { describe, expect, it } from 'vitest';
import { gatewaySettingsSchema } from './gateway-config.js';
import { parseIdentityPasswordHash, userIdentitySettingSchema } from './user-identity.js';

const HASH = `scrypt$32768$8$1$${'s'.repeat(22)}$${'k'.repeat(43)}`;
const ED25519 = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };

/** Each problem as "path: message", as the API and the gateway report it. */
function problems(value: unknown): string[] {
  const r = userIdentitySettingSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('the userIdentity setting', () => {
  it('accepts each mode', () => {
    expect(problems({ require: 'none' })).toEqual([]);
    expect(userIdentitySettingSchema.parse({ require: 'username' })).toEqual({
      require: 'username',
      usernames: [],
    });
    expect(
      problems({ require: 'username-password', users: [{ username: 'ct1', passwordHash: HASH }] }),
    ).toEqual([]);
    expect(
      problems({ require: 'jwt', jwks: { keys: [ED25519] }, issuer: 'https://idp', audience: 'gw' }),
    ).toEqual([]);
  });

  it('refuses a password in place of its hash, without repeating it', () => {
    const found = problems({
      require: 'username-password',
      users: [{ username: 'ct1', passwordHash: 'hunter22' }],
    });
    expect(found).toEqual([
      'users.0.passwordHash: must be a scrypt hash (scrypt$N$r$p$salt$key) made by `ferry-agent hash-password`, never the password itself',
    ]);
    expect(found.join()).not.toContain('hunter22');
    expect(
      problems({
        require: 'username-password',
        users: [{ username: 'ct1', password: 'hunter22', passwordHash: HASH }],
      }),
    ).toEqual([
      'users.0: a password is never stored: put its hash from `ferry-agent hash-password` in passwordHash',
    ]);
  });

  it('refuses hashes whose cost is out of bounds, so a check stays cheap', () => {
    expect(parseIdentityPasswordHash(HASH)).toMatchObject({ N: 32768, r: 8, p: 1 });
    expect(parseIdentityPasswordHash(HASH.replace('32768', '131072'))).toBeUndefined();
    expect(parseIdentityPasswordHash(HASH.replace('32768', '1024'))).toBeUndefined();
    expect(parseIdentityPasswordHash(HASH.replace('32768', '30000'))).toBeUndefined();
    expect(parseIdentityPasswordHash(HASH.replace('$8$1$', '$8$3$'))).toBeUndefined();
  });

  it('refuses an unknown mode, Kerberos and SAML, an empty user list and a username twice', () => {
    expect(problems({ require: 'kerberos' })).toEqual([
      'require: require must be "none", "username", "username-password" or "jwt"',
    ]);
    expect(problems({ require: 'username-password', users: [] })).toEqual([
      'users: must list at least one user',
    ]);
    const twice = { username: 'ct1', passwordHash: HASH };
    expect(problems({ require: 'username-password', users: [twice, twice] })).toEqual([
      'users: must not list a username twice',
    ]);
  });

  it('refuses private and symmetric keys and keys without their public members', () => {
    expect(problems({ require: 'jwt', jwks: { keys: [{ ...ED25519, d: 'secret' }] } })).toEqual([
      'jwks.keys.0: must be a public key: private members (d, p, q, …) and symmetric keys (k) are refused',
    ]);
    expect(problems({ require: 'jwt', jwks: { keys: [{ kty: 'oct', k: 'secret' }] } })).toEqual([
      'jwks.keys.0.kty: must be "RSA", "EC" or "OKP" (a public signing key)',
    ]);
    expect(problems({ require: 'jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'abc' }] } })).toEqual([
      'jwks.keys.0: lacks its public key members (RSA: n, e; EC: crv, x, y; OKP: crv, x)',
    ]);
    expect(problems({ require: 'jwt', jwks: { keys: [] } })).toEqual([
      'jwks.keys: must hold at least one key',
    ]);
  });

  it('is a group and facility setting, replaced whole', () => {
    const parsed = gatewaySettingsSchema.parse({ userIdentity: { require: 'username', usernames: ['ct1'] } });
    expect(parsed.userIdentity).toEqual({ require: 'username', usernames: ['ct1'] });
  });
});
