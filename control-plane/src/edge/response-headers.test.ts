import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type SeededGroup, type TestApp } from '../../../testkit/control-plane/harness.js';
import { createApp } from '../app.js';
import { parseTrustedProxies } from '../env.js';
import { HSTS_VALUE } from './response-headers.js';

// Headers only: the database plays no part, so one backend is enough.
describe('Cache-Control and HSTS on every answer', () => {
  let t: TestApp;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A GET as the group's admin, by bearer token (API) or session cookie (console), over `scheme`. */
  const get = (
    path: string,
    opts: { scheme?: 'http' | 'https'; cookie?: boolean; anonymous?: boolean } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (!opts.anonymous) {
      if (opts.cookie) headers.cookie = `ferry_session=${g.admin.token}`;
      else headers.authorization = `Bearer ${g.admin.token}`;
    }
    if (path.startsWith('/dicomweb')) headers.accept = 'application/dicom+json';
    return t.app.request(`${opts.scheme ?? 'http'}://ferry.test${path}`, { headers, redirect: 'manual' });
  };

  const phiAnswers: [string, Parameters<typeof get>[1], number][] = [
    ['/api/v1/studies', {}, 200],
    ['/api/v1/studies/1.2.3.4', {}, 404],
    ['/api/v1/audit', { anonymous: true }, 401],
    ['/dicomweb/studies', {}, 200],
    ['/dicomweb/studies/1.2.3.4/metadata', {}, 404],
    ['/worklist', { cookie: true }, 200],
    ['/login', { anonymous: true }, 200],
    ['/no/such/page', {}, 404],
  ];

  it.each(phiAnswers)('%s answers with Cache-Control: no-store', async (path, opts, status) => {
    const res = await get(path, opts);
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it("keeps the console assets' own caching", async () => {
    const res = await get('/assets/app.css', { anonymous: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('sends Strict-Transport-Security on HTTPS answers only', async () => {
    for (const [path, opts, status] of [
      ...phiAnswers,
      ['/assets/app.css', { anonymous: true }, 200] as const,
    ]) {
      const https = await get(path, { ...opts, scheme: 'https' });
      expect(https.status, path).toBe(status);
      expect(https.headers.get('strict-transport-security'), path).toBe(HSTS_VALUE);
      const http = await get(path, opts);
      expect(http.headers.get('strict-transport-security'), path).toBeNull();
    }
    expect(HSTS_VALUE).toMatch(/^max-age=(\d+)$/);
    expect(Number(HSTS_VALUE.slice('max-age='.length))).toBeGreaterThanOrEqual(180 * 86_400);
  });

  it('sends it behind a TLS proxy only when the proxy is trusted (FERRY_TRUSTED_PROXIES) and says https', async () => {
    const app = createApp({ ...t.deps, trustedProxies: parseTrustedProxies('10.0.0.0/8, fd00::/8') });
    const from = (remoteAddress: string, proto?: string) =>
      app.request(
        'http://ferry.test/login',
        { headers: proto ? { 'x-forwarded-proto': proto } : {} },
        {
          incoming: {
            socket: { remoteAddress, remoteFamily: remoteAddress.includes(':') ? 'IPv6' : 'IPv4' },
          },
        },
      );
    const hsts = async (res: Response | Promise<Response>) =>
      (await res).headers.get('strict-transport-security');
    expect(await hsts(from('10.1.2.3', 'https'))).toBe(HSTS_VALUE);
    expect(await hsts(from('::ffff:10.1.2.3', 'https'))).toBe(HSTS_VALUE);
    expect(await hsts(from('fd00::7', 'https, http'))).toBe(HSTS_VALUE);
    expect(await hsts(from('10.1.2.3', 'http'))).toBeNull();
    expect(await hsts(from('10.1.2.3'))).toBeNull();
    // Anyone else can send the header: it means nothing from an untrusted peer.
    expect(await hsts(from('203.0.113.9', 'https'))).toBeNull();
    // Without FERRY_TRUSTED_PROXIES no peer is believed.
    const plain = await t.app.request(
      'http://ferry.test/login',
      { headers: { 'x-forwarded-proto': 'https' } },
      { incoming: { socket: { remoteAddress: '10.1.2.3', remoteFamily: 'IPv4' } } },
    );
    expect(plain.headers.get('strict-transport-security')).toBeNull();
  });
});
