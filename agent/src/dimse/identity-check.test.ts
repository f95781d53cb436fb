import { type UserIdentitySetting, userIdentitySettingSchema } from '@ferry/shared';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeAssociateRq } from '../../../test/harness/raw-scu.js';
import { parseAssociateRq } from './associate.js';
import { judgeAssociateRq } from './association-accept.js';
import { checkUserIdentity, type IdentityVerdict, identityRequiredOf } from './identity-check.js';
import { hashIdentityPassword } from './identity-password.js';
import type { AssociationPolicy } from './policy.js';
import type { UserIdentity } from './user-identity.js';

const id = (type: number, primary: string, secondary = '', rsp = true): UserIdentity => ({
  type,
  positiveResponseRequested: rsp,
  primary: Buffer.from(primary),
  secondary: Buffer.from(secondary),
});

const check = async (
  identity: UserIdentity | undefined,
  setting?: UserIdentitySetting,
): Promise<IdentityVerdict> => checkUserIdentity(identity, setting);

describe('no identity required (the default)', () => {
  it('accepts every request, and answers a username or password identity that asks for a response', () => {
    const none = userIdentitySettingSchema.parse({ require: 'none' });
    expect(checkUserIdentity(undefined, none)).toEqual({ ok: true });
    expect(checkUserIdentity(id(2, 'u', 'p'), none)).toEqual({ ok: true, response: Buffer.alloc(0) });
    expect(checkUserIdentity(id(1, 'u'), undefined)).toEqual({ ok: true, response: Buffer.alloc(0) });
    expect(checkUserIdentity(id(1, 'u', '', false), none)).toEqual({ ok: true });
    // No Kerberos ticket, SAML response or JWT of our own to give: accepted without the sub-item.
    expect(checkUserIdentity(id(3, 'ticket'), none)).toEqual({ ok: true });
    expect(checkUserIdentity(id(5, 'a.b.c'), none)).toEqual({ ok: true });
  });
});

describe('a username required', () => {
  const setting = userIdentitySettingSchema.parse({ require: 'username', usernames: ['CT_TECH'] });

  it('refuses a request without one, or with another type or name, and accepts a listed name', () => {
    expect(checkUserIdentity(undefined, setting)).toEqual({
      ok: false,
      why: 'a username is required and the request carries no user identity',
    });
    expect(checkUserIdentity(id(5, 'a.b.c'), setting)).toMatchObject({ why: /carries a JWT/ });
    expect(checkUserIdentity(id(1, 'MR_TECH'), setting)).toEqual({
      ok: false,
      why: 'username "MR_TECH" is not on the list',
    });
    expect(checkUserIdentity(id(1, 'CT_TECH'), setting)).toEqual({ ok: true, response: Buffer.alloc(0) });
    const any = userIdentitySettingSchema.parse({ require: 'username' });
    expect(checkUserIdentity(id(2, 'anyone', 'x', false), any)).toEqual({ ok: true });
    expect(checkUserIdentity(id(1, ''), any)).toEqual({ ok: false, why: 'the username is empty' });
  });
});

describe('a username and password required', () => {
  let setting: UserIdentitySetting;
  beforeAll(async () => {
    setting = userIdentitySettingSchema.parse({
      require: 'username-password',
      users: [{ username: 'ct1', passwordHash: await hashIdentityPassword('correct horse') }],
    });
  });

  it('refuses a missing identity, a username alone, an unknown user and a wrong password, naming no secret', async () => {
    expect(await check(undefined, setting)).toMatchObject({
      ok: false,
      why: /username and password is required/,
    });
    expect(await check(id(1, 'ct1'), setting)).toMatchObject({ ok: false, why: /carries a username$/ });
    expect(await check(id(2, 'ct9', 'correct horse'), setting)).toEqual({
      ok: false,
      why: 'username "ct9" is not on the list',
    });
    const wrong = await check(id(2, 'ct1', 'battery staple'), setting);
    expect(wrong).toEqual({ ok: false, why: 'wrong password for username "ct1"' });
  });

  it('accepts the right password (a check that matched once is remembered)', async () => {
    expect(await check(id(2, 'ct1', 'correct horse'), setting)).toEqual({
      ok: true,
      response: Buffer.alloc(0),
    });
    const again = checkUserIdentity(id(2, 'ct1', 'correct horse', false), setting);
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toEqual({ ok: true });
  });
});

describe('a JWT required', () => {
  type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let key: Key;
  let otherKey: Key;
  let setting: UserIdentitySetting;
  const jwt = (k: Key, claims: Record<string, unknown>, exp: string | number = '5m') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).setIssuedAt().setExpirationTime(exp).sign(k);

  beforeAll(async () => {
    const pair = await generateKeyPair('EdDSA');
    key = pair.privateKey;
    otherKey = (await generateKeyPair('EdDSA')).privateKey;
    setting = userIdentitySettingSchema.parse({
      require: 'jwt',
      jwks: { keys: [await exportJWK(pair.publicKey)] },
      issuer: 'https://idp.example',
      audience: 'ferry-gateway',
    });
  });

  it('accepts a good token, without a server response (the gateway has no JWT of its own to give)', async () => {
    const token = await jwt(key, { iss: 'https://idp.example', aud: 'ferry-gateway', sub: 'ct1' });
    expect(await check(id(5, token), setting)).toEqual({ ok: true });
  });

  it.each([
    [
      'expired',
      () =>
        jwt(key, { iss: 'https://idp.example', aud: 'ferry-gateway' }, Math.floor(Date.now() / 1000) - 600),
      /it has expired/,
    ],
    [
      'signed by another key',
      () => jwt(otherKey, { iss: 'https://idp.example', aud: 'ferry-gateway' }),
      /signature does not verify/,
    ],
    [
      'from another issuer',
      () => jwt(key, { iss: 'https://evil.example', aud: 'ferry-gateway' }),
      /"iss" claim/,
    ],
    ['for another audience', () => jwt(key, { iss: 'https://idp.example', aud: 'pacs' }), /"aud" claim/],
    ['not a JWT at all', async () => 'not-a-token', /JWT refused: ERR_JWS_INVALID/],
  ])('refuses a token %s', async (_what, make, why) => {
    const token = await make();
    const verdict = await check(id(5, token), setting);
    expect(verdict).toMatchObject({ ok: false, why });
    expect(JSON.stringify(verdict)).not.toContain(token);
  });

  it('refuses a token without an expiry, and a username in its place', async () => {
    const noExp = await new SignJWT({ iss: 'https://idp.example', aud: 'ferry-gateway' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(key);
    expect(await check(id(5, noExp), setting)).toMatchObject({ ok: false, why: /"exp" claim/ });
    expect(await check(id(1, 'ct1'), setting)).toMatchObject({ ok: false, why: /a JWT is required/ });
  });
});

describe('which associations the requirement covers', () => {
  const setting = userIdentitySettingSchema.parse({ require: 'username' });
  const CT = { id: 3, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: ['1.2.840.10008.1.2'] };
  const rq = (contexts: (typeof CT)[]) => parseAssociateRq(encodeAssociateRq({ contexts }).subarray(6));

  it('covers any association that proposes more than Verification, and spares a C-ECHO-only one', () => {
    expect(identityRequiredOf(rq([CT]), setting)).toBe(setting);
    expect(identityRequiredOf(rq([{ ...CT, id: 1, abstractSyntax: '1.2.840.10008.1.1' }, CT]), setting)).toBe(
      setting,
    );
    expect(
      identityRequiredOf(rq([{ ...CT, id: 1, abstractSyntax: '1.2.840.10008.1.1' }]), setting),
    ).toBeUndefined();
  });
});

describe('judgeAssociateRq with a user identity verdict', () => {
  const policy: AssociationPolicy = {
    aeTitle: 'GATEWAY',
    allowedCallingAeTitles: [],
    maxAssociations: 4,
    maxPduLength: 16384,
    artimTimeoutMs: 1000,
    idleTimeoutMs: 1000,
  };
  const req = parseAssociateRq(encodeAssociateRq().subarray(6));

  it('rejects a refused identity permanently, service user, reason 1, without taking a slot', () => {
    let admitted = 0;
    const verdict = judgeAssociateRq(req, policy, () => void admitted++, {
      ok: false,
      why: 'wrong password for username "ct1"',
    });
    expect(verdict).toEqual({
      accepted: false,
      result: 1,
      source: 1,
      reason: 1,
      why: 'user identity refused: wrong password for username "ct1"',
    });
    expect(admitted).toBe(0);
  });

  it('passes on the server response an accepted identity is owed', () => {
    const verdict = judgeAssociateRq(req, policy, () => undefined, { ok: true, response: Buffer.alloc(0) });
    expect(verdict).toMatchObject({ accepted: true, identityResponse: Buffer.alloc(0) });
    expect(judgeAssociateRq(req, policy, () => undefined)).not.toHaveProperty('identityResponse');
  });
});
