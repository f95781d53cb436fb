import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestApp, type TestApp } from '../../../testkit/control-plane/harness.js';
import { expectError, unsignedToken } from '../../../testkit/control-plane/security-suite.js';

/** Public routes: they answer without credentials, and credentials of any kind change nothing. */
const PUBLIC_ROUTES = ['/healthz', '/readyz', '/api/v1/openapi.json'];

describe.each(BACKENDS)('health and API description (%s)', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(PUBLIC_ROUTES)('%s answers 200 without credentials, and ignores bad ones', async (path) => {
    const g = await t.seedGroup();
    for (const token of [undefined, 'not-a-jwt', unsignedToken({ sub: 'x' }), g.reader.token]) {
      const res = await t.request('GET', path, token === undefined ? {} : { token });
      expect(res.status, `${path} with ${token ?? 'no token'}: ${res.text.slice(0, 200)}`).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBeTruthy();
    }
  });

  it('GET /healthz says the process is up', async () => {
    expect((await t.request('GET', '/healthz')).body).toEqual({ ok: true });
  });

  it('GET /readyz says the database answers', async () => {
    expect((await t.request('GET', '/readyz')).body).toEqual({ ok: true });
  });

  it('GET /api/v1/openapi.json describes the API in OpenAPI 3.1 with the shared error shape', async () => {
    const res = await t.request<{
      openapi: string;
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components?: { schemas?: Record<string, unknown> };
    }>('GET', '/api/v1/openapi.json');
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toContain('/api/v1/auth/login');
    expect(res.body.paths['/api/v1/auth/login']?.post?.responses).toHaveProperty('429');
    expect(res.body.components?.schemas).toHaveProperty('Error');
  });

  it('another method on a public path is an unknown route (404 JSON)', async () => {
    const res = await t.request('DELETE', '/healthz');
    expectError(res, 404, 'resource.not_found');
  });
});

describe.each(BACKENDS)('GET /readyz with the database gone (%s)', (backend) => {
  it('answers 503 db.unavailable in the error shape, while /healthz stays 200', async () => {
    const t = await createTestApp(backend);
    await t.close();
    expectError(await t.request('GET', '/readyz'), 503, 'db.unavailable');
    expect((await t.request('GET', '/healthz')).status).toBe(200);
  });
});
