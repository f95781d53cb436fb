import type { UserIdentitySetting } from '@ferry/shared';
import { createLocalJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { AssociateRequest } from './associate.js';
import { burnIdentityPasswordCheck, verifyIdentityPassword } from './identity-password.js';
import { VERIFICATION_SOP_CLASS } from './pdu-types.js';
import { type UserIdentity, UserIdentityType } from './user-identity.js';

/**
 * The requester's identity judged against the `userIdentity` setting. `response` is the server
 * response of the 0x59 sub-item to send, when one is owed: PS3.7 D.3.3.7.2 makes it empty for types
 * 1 and 2; for Kerberos, SAML and JWT it would be a server ticket, SAML response or JWT of our own,
 * which the gateway has no means to issue, so it answers those without the sub-item, as PS3.7 lets an
 * acceptor that does not answer an identity do (the requester then decides whether to go on).
 */
export type IdentityVerdict = { ok: true; response?: Buffer } | { ok: false; why: string };

const TYPE_NAMES: Record<number, string> = {
  [UserIdentityType.Username]: 'a username',
  [UserIdentityType.UsernameAndPasscode]: 'a username and passcode',
  [UserIdentityType.Kerberos]: 'a Kerberos ticket',
  [UserIdentityType.Saml]: 'a SAML assertion',
  [UserIdentityType.Jwt]: 'a JWT',
};

const REQUIRED: Record<Exclude<UserIdentitySetting['require'], 'none'>, string> = {
  username: 'a username',
  'username-password': 'a username and password',
  jwt: 'a JWT',
};

/** JWS algorithms with a public key; HS* would need a shared secret in the setting, `none` no key. */
const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** How long a JWT's exp/nbf may be off because the sender's clock is, not more. */
const CLOCK_TOLERANCE_S = 60;

/** The printable start of a username for the log, never the password or token. */
const shown = (name: string) => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);

const jwkSets = new WeakMap<object, JWTVerifyGetKey>();

function accepted(identity: UserIdentity | undefined): IdentityVerdict {
  if (!identity?.positiveResponseRequested) return { ok: true };
  const answerable =
    identity.type === UserIdentityType.Username || identity.type === UserIdentityType.UsernameAndPasscode;
  return answerable ? { ok: true, response: Buffer.alloc(0) } : { ok: true };
}

/**
 * The requirement that applies to `req`: none for an association that proposes only Verification,
 * because the setting guards storing, and a modality's or `ferry-agent doctor`'s C-ECHO stores nothing.
 */
export function identityRequiredOf(
  req: AssociateRequest,
  setting: UserIdentitySetting | undefined,
): UserIdentitySetting | undefined {
  const echoOnly =
    req.contexts.length > 0 && req.contexts.every((c) => c.abstractSyntax === VERIFICATION_SOP_CLASS);
  return echoOnly ? undefined : setting;
}

/**
 * Judges the identity. Synchronous unless a password hash or a JWT signature must be checked, so an
 * association that needs neither pays nothing for this.
 */
export function checkUserIdentity(
  identity: UserIdentity | undefined,
  setting: UserIdentitySetting | undefined,
): IdentityVerdict | Promise<IdentityVerdict> {
  if (!setting || setting.require === 'none') return accepted(identity);
  const wanted = REQUIRED[setting.require];
  if (!identity) return { ok: false, why: `${wanted} is required and the request carries no user identity` };
  const given = TYPE_NAMES[identity.type] ?? `user identity type ${identity.type}`;
  const username = identity.primary.toString('utf8');
  switch (setting.require) {
    case 'username': {
      if (
        identity.type !== UserIdentityType.Username &&
        identity.type !== UserIdentityType.UsernameAndPasscode
      )
        return { ok: false, why: `${wanted} is required and the request carries ${given}` };
      if (username.length === 0) return { ok: false, why: 'the username is empty' };
      if (setting.usernames.length > 0 && !setting.usernames.includes(username))
        return { ok: false, why: `username ${shown(username)} is not on the list` };
      return accepted(identity);
    }
    case 'username-password': {
      if (identity.type !== UserIdentityType.UsernameAndPasscode)
        return { ok: false, why: `${wanted} is required and the request carries ${given}` };
      return checkPassword(identity, username, setting.users);
    }
    case 'jwt': {
      if (identity.type !== UserIdentityType.Jwt)
        return { ok: false, why: `${wanted} is required and the request carries ${given}` };
      return checkJwt(identity, setting);
    }
  }
}

async function checkPassword(
  identity: UserIdentity,
  username: string,
  users: { username: string; passwordHash: string }[],
): Promise<IdentityVerdict> {
  const password = identity.secondary.toString('utf8');
  const user = users.find((u) => u.username === username);
  if (!user) {
    await burnIdentityPasswordCheck(password);
    return { ok: false, why: `username ${shown(username)} is not on the list` };
  }
  if (!(await verifyIdentityPassword(password, user.passwordHash)))
    return { ok: false, why: `wrong password for username ${shown(username)}` };
  return accepted(identity);
}

async function checkJwt(
  identity: UserIdentity,
  setting: Extract<UserIdentitySetting, { require: 'jwt' }>,
): Promise<IdentityVerdict> {
  let keys = jwkSets.get(setting.jwks);
  if (!keys) {
    keys = createLocalJWKSet(setting.jwks as Parameters<typeof createLocalJWKSet>[0]);
    jwkSets.set(setting.jwks, keys);
  }
  try {
    await jwtVerify(identity.primary.toString('latin1').trim(), keys, {
      algorithms: ALGORITHMS,
      requiredClaims: ['exp'],
      clockTolerance: CLOCK_TOLERANCE_S,
      ...(setting.issuer ? { issuer: setting.issuer } : {}),
      ...(setting.audience ? { audience: setting.audience } : {}),
    });
  } catch (err) {
    return { ok: false, why: `JWT refused: ${jwtProblem(err)}` };
  }
  return accepted(identity);
}

/** What was wrong with a JWT, in jose's words, which name the claim or check and never the token. */
function jwtProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no configured key matches it';
  if (err instanceof errors.JOSEError) return `${err.code}: ${err.message}`;
  return 'it is not a JWT';
}
