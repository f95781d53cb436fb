import { FerryError, isFerryError } from '@ferry/shared';
import { importJWK, jwtVerify } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { ControlPlaneClient, normalizeServerUrl } from './client.js';
import { generateIdentity } from './identity.js';

const GATEWAY = '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10';
const FACILITY = '0b9d6c1e-6f1a-4d7e-9d1c-2f8a6f4b2a10';

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

const self = {
  gatewayId: GATEWAY,
  facility: { id: FACILITY, name: 'East', aeTitle: 'RAD_EAST' },
  configVersion: 1,
  config: { aeTitle: 'RAD_EAST', port: 4104, allowedCallingAeTitles: [], maxAssociations: 32 },
};

describe('normalizeServerUrl', () => {
  it('drops a trailing slash and refuses what is not a plain http(s) URL', () => {
    expect(normalizeServerUrl('https://ferry.example.org/')).toBe('https://ferry.example.org');
    expect(normalizeServerUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(normalizeServerUrl('https://example.org/ferry/')).toBe('https://example.org/ferry');
    for (const bad of ['ftp://example.org', 'example.org', 'https://example.org/?a=1', 'https://u:p@x.org'])
      expect(() => normalizeServerUrl(bad)).toThrow(FerryError);
  });
});

describe('ControlPlaneClient', () => {
  it('signs authenticated calls with a fresh agent token for the server audience', async () => {
    const id = await generateIdentity();
    const tokens: string[] = [];
    const fetch = vi.fn(async (_url: string | URL | Request, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('authorization') ?? '';
      tokens.push(auth.replace(/^Bearer /, ''));
      return jsonResponse(200, self);
    });
    const client = new ControlPlaneClient({
      server: 'http://cp.test:8080/',
      auth: { gatewayId: GATEWAY, privateJwk: id.privateJwk },
      fetch,
    });
    expect(await client.me()).toEqual(self);
    await client.me();
    expect(fetch.mock.calls[0]![0]).toBe('http://cp.test:8080/api/v1/agents/me');
    const key = await importJWK(id.publicJwk, 'EdDSA');
    const claims = await Promise.all(
      tokens.map(
        async (t) => (await jwtVerify(t, key, { audience: 'http://cp.test:8080', subject: GATEWAY })).payload,
      ),
    );
    expect(claims[0]!.jti).not.toBe(claims[1]!.jti);
  });

  it('sends enroll unsigned, with only the public key', async () => {
    const id = await generateIdentity();
    let sent: RequestInit | undefined;
    const client = new ControlPlaneClient({
      server: 'http://cp.test',
      fetch: async (_url, init) => {
        sent = init;
        return jsonResponse(200, { ...self, recipientPublicKey: { kty: 'OKP', crv: 'X25519', x: 'abc' } });
      },
    });
    const out = await client.enroll({
      token: 'fet_x',
      publicKey: { kty: 'OKP', crv: 'Ed25519', x: id.publicJwk.x! },
      hostname: 'h',
      version: '1',
    });
    expect(out.gatewayId).toBe(GATEWAY);
    expect(new Headers(sent?.headers).get('authorization')).toBeNull();
    expect(String(sent?.body)).not.toContain(id.privateJwk.d!);
  });

  it("maps an error body to a FerryError with the server's code and message", async () => {
    const client = new ControlPlaneClient({
      server: 'http://cp.test',
      fetch: async () =>
        jsonResponse(401, {
          error: { code: 'enrollment.token_invalid', message: 'this token was revoked', requestId: 'r1' },
        }),
    });
    const err = await client
      .enroll({ token: 't', publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'x' }, hostname: 'h', version: '1' })
      .catch((e: unknown) => e);
    expect(isFerryError(err, 'enrollment.token_invalid')).toBe(true);
    expect((err as FerryError).message).toBe('this token was revoked');
    expect((err as FerryError).details).toMatchObject({ status: 401, requestId: 'r1' });
  });

  it('calls onReenroll when the server answers reenroll, then throws auth.reenroll', async () => {
    const id = await generateIdentity();
    const onReenroll = vi.fn(async () => undefined);
    const client = new ControlPlaneClient({
      server: 'http://cp.test',
      auth: { gatewayId: GATEWAY, privateJwk: id.privateJwk },
      onReenroll,
      fetch: async () =>
        jsonResponse(401, {
          error: { code: 'auth.reenroll', message: 'enroll again', requestId: 'r', reenroll: true },
        }),
    });
    const err = await client.me().catch((e: unknown) => e);
    expect(isFerryError(err, 'auth.reenroll')).toBe(true);
    expect(onReenroll).toHaveBeenCalledTimes(1);
  });

  it('does not call onReenroll for other 401s', async () => {
    const id = await generateIdentity();
    const onReenroll = vi.fn(async () => undefined);
    const client = new ControlPlaneClient({
      server: 'http://cp.test',
      auth: { gatewayId: GATEWAY, privateJwk: id.privateJwk },
      onReenroll,
      fetch: async () =>
        jsonResponse(401, { error: { code: 'auth.replayed_token', message: 'replayed', requestId: 'r' } }),
    });
    expect(isFerryError(await client.me().catch((e: unknown) => e), 'auth.replayed_token')).toBe(true);
    expect(onReenroll).not.toHaveBeenCalled();
  });

  it('reports an unreachable server, a proxy error page and an unexpected body distinctly', async () => {
    const down = new ControlPlaneClient({
      server: 'http://cp.test',
      auth: { gatewayId: GATEWAY, privateJwk: (await generateIdentity()).privateJwk },
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      },
    });
    const e1 = await down.me().catch((e: unknown) => e);
    expect(isFerryError(e1, 'control.unreachable')).toBe(true);
    expect((e1 as Error).message).toContain('ECONNREFUSED');

    const proxy = new ControlPlaneClient({
      server: 'http://cp.test',
      auth: { gatewayId: GATEWAY, privateJwk: (await generateIdentity()).privateJwk },
      fetch: async () => new Response('<html>bad gateway</html>', { status: 502 }),
    });
    expect(isFerryError(await proxy.me().catch((e: unknown) => e), 'control.unreachable')).toBe(true);

    const odd = new ControlPlaneClient({
      server: 'http://cp.test',
      auth: { gatewayId: GATEWAY, privateJwk: (await generateIdentity()).privateJwk },
      fetch: async () => jsonResponse(200, { hello: 'world' }),
    });
    expect(isFerryError(await odd.me().catch((e: unknown) => e), 'control.bad_response')).toBe(true);
  });

  it('refuses an authenticated call without an identity', async () => {
    const client = new ControlPlaneClient({
      server: 'http://cp.test',
      fetch: async () => jsonResponse(200, self),
    });
    expect(isFerryError(await client.me().catch((e: unknown) => e), 'auth.missing_token')).toBe(true);
  });
});
