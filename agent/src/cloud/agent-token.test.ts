import { isFerryError } from '@ferry/shared';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { AGENT_TOKEN_LIFETIME_SECONDS, signAgentToken } from './agent-token.js';
import { generateIdentity } from './identity.js';

const GATEWAY = '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10';
const SERVER = 'https://ferry.example.org';

describe('signAgentToken', () => {
  it('signs an EdDSA JWT for the gateway, audience the server, living 60 s, with a random jti', async () => {
    const id = await generateIdentity();
    const token = await signAgentToken({ privateJwk: id.privateJwk, gatewayId: GATEWAY, audience: SERVER });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'JWT' });
    const { payload } = await jwtVerify(token, await importJWK(id.publicJwk, 'EdDSA'), {
      algorithms: ['EdDSA'],
      audience: SERVER,
      subject: GATEWAY,
    });
    expect(payload.exp! - payload.iat!).toBe(AGENT_TOKEN_LIFETIME_SECONDS);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
    expect(payload.jti!.length).toBeGreaterThanOrEqual(16);
    const again = await signAgentToken({ privateJwk: id.privateJwk, gatewayId: GATEWAY, audience: SERVER });
    const { payload: p2 } = await jwtVerify(again, await importJWK(id.publicJwk, 'EdDSA'));
    expect(p2.jti).not.toBe(payload.jti);
  });

  it('signs with the key it is given now, though an earlier key was imported once for many tokens', async () => {
    const id = await generateIdentity();
    const rotated = await generateIdentity();
    const jwk = { ...id.privateJwk };
    const sign = () => signAgentToken({ privateJwk: jwk, gatewayId: GATEWAY, audience: SERVER });
    await jwtVerify(await sign(), await importJWK(id.publicJwk, 'EdDSA'));
    await jwtVerify(await sign(), await importJWK(id.publicJwk, 'EdDSA'));
    // The same object holding another key (rotated in place) must not sign with the cached one.
    Object.assign(jwk, rotated.privateJwk);
    await jwtVerify(await sign(), await importJWK(rotated.publicJwk, 'EdDSA'));
    const next = signAgentToken({ privateJwk: rotated.privateJwk, gatewayId: GATEWAY, audience: SERVER });
    await expect(jwtVerify(await next, await importJWK(id.publicJwk, 'EdDSA'))).rejects.toThrow();
  });

  it('does not verify with another key or for another audience', async () => {
    const id = await generateIdentity();
    const other = await generateIdentity();
    const token = await signAgentToken({ privateJwk: id.privateJwk, gatewayId: GATEWAY, audience: SERVER });
    await expect(jwtVerify(token, await importJWK(other.publicJwk, 'EdDSA'))).rejects.toThrow();
    await expect(
      jwtVerify(token, await importJWK(id.publicJwk, 'EdDSA'), { audience: 'https://elsewhere.example' }),
    ).rejects.toThrow();
  });

  it('refuses lifetimes over 5 minutes and keys without the private part', async () => {
    const id = await generateIdentity();
    const long = await signAgentToken({
      privateJwk: id.privateJwk,
      gatewayId: GATEWAY,
      audience: SERVER,
      lifetimeSeconds: 301,
    }).catch((e: unknown) => e);
    expect(isFerryError(long, 'config.invalid')).toBe(true);
    const pub = await signAgentToken({
      privateJwk: id.publicJwk,
      gatewayId: GATEWAY,
      audience: SERVER,
    }).catch((e: unknown) => e);
    expect(isFerryError(pub, 'crypto.key_invalid')).toBe(true);
  });

  it('honours an explicit issue time', async () => {
    const id = await generateIdentity();
    const token = await signAgentToken({
      privateJwk: id.privateJwk,
      gatewayId: GATEWAY,
      audience: SERVER,
      now: 1_000_000,
      lifetimeSeconds: 300,
    });
    const [, body] = token.split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8')) as Record<string, number>;
    expect(claims.iat).toBe(1_000_000);
    expect(claims.exp).toBe(1_000_300);
  });
});
