/**
 * CORS on /dicomweb for viewers hosted elsewhere (FERRY_CORS_ORIGINS, http/cors.ts): bearer tokens
 * only, preflights answered for listed origins, nothing for the rest, and never the session cookie.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { seedWorklist, type Worklist } from '../../../testkit/control-plane/study-fixtures.js';

const VIEWER = 'https://viewer.example.org';
const EVIL = 'https://evil.example';

describe('DICOMweb CORS (pglite)', () => {
  let t: TestApp;
  let w: Worklist;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    w = await seedWorklist(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const framesPath = () =>
    `/dicomweb/studies/${w.mueller.studyUid}/series/${w.mueller.seriesUid}/instances/${w.mueller.current[0]!.sealed.manifest.sopInstanceUid}/frames/1`;
  const preflight = (origin: string, path = framesPath()) =>
    t.request('OPTIONS', path, {
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, accept',
      },
    });
  const search = (headers: Record<string, string>, token?: string) =>
    t.request('GET', '/dicomweb/studies', { ...(token ? { token } : {}), headers });
  const corsHeaders = (h: Headers) => [...h.keys()].filter((k) => k.startsWith('access-control-'));

  it('sends no CORS headers at all while FERRY_CORS_ORIGINS is empty', async () => {
    const res = await search({ origin: VIEWER }, w.a.reader.token);
    expect(res.status).toBe(200);
    expect(corsHeaders(res.headers)).toEqual([]);
    const pre = await preflight(VIEWER);
    expectError(pre, 403, 'cors.origin_not_allowed');
    expect(corsHeaders(pre.headers)).toEqual([]);
  });

  describe('with FERRY_CORS_ORIGINS listing the viewer', () => {
    beforeAll(() => {
      t.deps.corsOrigins = new Set([VIEWER]);
    });
    afterAll(() => {
      t.deps.corsOrigins = undefined;
    });

    it('answers its preflight with its exact origin, the methods and headers a viewer needs, no credentials', async () => {
      const res = await preflight(VIEWER);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(VIEWER);
      expect(res.headers.get('vary')).toBe('Origin');
      expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, OPTIONS');
      expect(res.headers.get('access-control-allow-headers')).toBe(
        'authorization, accept, content-type, range',
      );
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    });

    it('lets it read answers (errors too) to bearer requests, in the caller group only', async () => {
      const res = await search({ origin: VIEWER }, w.a.reader.token);
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(VIEWER);
      expect(res.headers.get('access-control-expose-headers')).toBe(
        'content-type, content-length, content-location',
      );
      expect(res.headers.get('vary')).toContain('Origin');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.text).toContain(w.mueller.studyUid);

      const other = await t.request('GET', `/dicomweb/studies/${w.mueller.studyUid}/metadata`, {
        token: w.b.reader.token,
        headers: { origin: VIEWER },
      });
      expectError(other, 404, 'resource.not_found');
      expect(other.headers.get('access-control-allow-origin')).toBe(VIEWER);
      expectError(await search({ origin: VIEWER }), 401, 'auth.missing_token');
      expectError(await search({ origin: VIEWER }, `${w.a.reader.token}x`), 401, 'auth.invalid_token');
    });

    it('gives another origin nothing: its preflight is refused, its answers carry no CORS headers', async () => {
      const pre = await preflight(EVIL);
      expectError(pre, 403, 'cors.origin_not_allowed');
      expect(pre.text).toContain(EVIL);
      expect(corsHeaders(pre.headers)).toEqual([]);
      const res = await search({ origin: EVIL }, w.a.reader.token);
      expect(corsHeaders(res.headers)).toEqual([]);
    });

    it('never accepts the session cookie cross-origin, listed or not; the console itself still uses it', async () => {
      const cookie = `ferry_session=${w.a.reader.token}`;
      for (const origin of [VIEWER, EVIL]) {
        const res = await search({ origin, cookie });
        expectError(res, 403, 'auth.cross_origin');
        expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      }
      const console = await search({ origin: new URL(t.deps.publicUrl).origin, cookie });
      expect(console.status).toBe(200);
      expect(corsHeaders(console.headers)).toEqual([]);
      expect((await search({ cookie })).status).toBe(200);
      expect(
        (await search({ origin: 'http://localhost:8080', 'sec-fetch-site': 'same-origin', cookie })).status,
      ).toBe(200);
      expectError(
        await search({ origin: VIEWER, 'sec-fetch-site': 'cross-site', cookie }),
        403,
        'auth.cross_origin',
      );
      // A bearer token from the listed origin works even beside a cookie (the token is what counts).
      expect((await search({ origin: VIEWER, cookie }, w.a.reader.token)).status).toBe(200);
    });

    it('leaves /api/v1 without CORS: the viewer needs /dicomweb only', async () => {
      const res = await t.request('GET', '/api/v1/studies', {
        token: w.a.reader.token,
        headers: { origin: VIEWER },
      });
      expect(res.status).toBe(200);
      expect(corsHeaders(res.headers)).toEqual([]);
      const pre = await preflight(VIEWER, '/api/v1/studies');
      expect(corsHeaders(pre.headers)).toEqual([]);
    });
  });
});
