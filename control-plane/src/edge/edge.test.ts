import { Writable } from 'node:stream';
import { FerryError } from '@ferry/shared';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendGrowingBody } from '../../../testkit/control-plane/chunked-body.js';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { authenticate } from './auth-middleware.js';

const LOGIN = '/api/v1/auth/login';
const MIB = 1 << 20;

/** What every request meets before a route: body limits, content types, request ids, error mapping. */
describe.each(BACKENDS)('API edge (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend);
    // Probe routes, mounted before the first request builds the router.
    t.app.get('/api/v1/test/boom', () => {
      throw new Error('secret internals: password=hunter2 at /srv/ferry/db.ts:42');
    });
    t.app.get('/api/v1/test/throw-string', () => {
      throw 'a bare string with a token eyJhbGciOi';
    });
    t.app.get('/api/v1/test/typed', () => {
      throw new FerryError('resource.conflict', 'facility "X" still has 1 active gateway', {
        cause: new Error('secret cause'),
      });
    });
    t.app.post('/api/v1/test/echo', authenticate('user'), async (c) => c.json({ got: await c.req.json() }));
    // Capture the log: the harness logger is silent; errors must be logged with the request id.
    t.deps.log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
          done();
        },
      }),
    );
    g = await t.seedGroup();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('content type (415 request.unsupported_media_type)', () => {
    it.each([
      ['text/plain', 'email=a&password=b'],
      ['application/x-www-form-urlencoded', 'email=a&password=b'],
      ['multipart/form-data; boundary=x', '--x--'],
    ])('refuses a %s body', async (type, rawBody) => {
      const res = await t.request('POST', LOGIN, { rawBody, headers: { 'content-type': type } });
      expect(expectError(res, 415, 'request.unsupported_media_type').error.message).toContain(type);
    });

    it('refuses a body without a content type', async () => {
      const res = await t.request('POST', LOGIN, { rawBody: '{"email":"a@b.c","password":"x"}' });
      expectError(res, 415, 'request.unsupported_media_type');
    });

    it.each(['PATCH', 'PUT'])('refuses a non-JSON %s body too', async (method) => {
      const res = await t.request(method, '/api/v1/test/echo', {
        token: g.admin.token,
        rawBody: 'x',
        headers: { 'content-type': 'text/plain' },
      });
      expectError(res, 415, 'request.unsupported_media_type');
    });

    it('accepts application/json with a charset', async () => {
      const res = await t.request('POST', '/api/v1/test/echo', {
        token: g.admin.token,
        rawBody: '{"a":1}',
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ got: { a: 1 } });
    });
  });

  describe('size (413 request.too_large)', () => {
    const big = JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(MIB + 10) });

    it('refuses a body over 1 MiB', async () => {
      const res = await t.request('POST', LOGIN, {
        rawBody: big,
        headers: { 'content-type': 'application/json' },
      });
      expectError(res, 413, 'request.too_large');
    });

    it('refuses it from the declared length, before reading it', async () => {
      const res = await t.request('POST', LOGIN, {
        rawBody: big,
        headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      });
      expectError(res, 413, 'request.too_large');
    });

    it('refuses a chunked body that grows over 1 MiB', async () => {
      const res = await sendGrowingBody(t, 'POST', LOGIN, MIB);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('request.too_large');
    });

    it('takes a body just under the limit as far as validation', async () => {
      const under = JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(MIB - 100) });
      const res = await t.request('POST', LOGIN, {
        rawBody: under,
        headers: { 'content-type': 'application/json' },
      });
      // Past the size check; the schema caps passwords at 1024 characters.
      expectError(res, 400, 'request.invalid');
    });
  });

  describe('validation (400 request.invalid)', () => {
    it('names the field that is wrong', async () => {
      const res = await t.request('POST', LOGIN, { body: { email: 'a@b.c', password: 42 } });
      expect(expectError(res, 400, 'request.invalid').error.message).toMatch(/password/);
    });

    it('names a missing field', async () => {
      const res = await t.request('POST', LOGIN, { body: { password: 'x' } });
      expect(expectError(res, 400, 'request.invalid').error.message).toMatch(/email/);
    });

    it('refuses a body that is not an object', async () => {
      expectError(await t.request('POST', LOGIN, { body: ['a', 'b'] }), 400, 'request.invalid');
    });

    // Hono's validator throws an HTTPException (400 "Malformed JSON in request body") for these.
    it.each([
      ['malformed JSON', '{"email": "a@b.c", "password": '],
      ['an empty JSON body', ''],
    ])('refuses %s with 400 request.invalid, not a 500', async (_what, rawBody) => {
      const res = await t.request('POST', LOGIN, {
        rawBody,
        headers: { 'content-type': 'application/json' },
      });
      expectError(res, 400, 'request.invalid');
    });
  });

  describe('unknown routes (404 resource.not_found)', () => {
    it.each([
      ['GET', '/api/v1/nope'],
      ['POST', '/api/v2/auth/login'],
      ['DELETE', LOGIN],
      ['GET', '/no/such/page'],
    ])('%s %s answers JSON 404', async (method, path) => {
      const res = await t.request(method, path);
      expect(expectError(res, 404, 'resource.not_found').error.message).toContain(path);
    });
  });

  describe('request ids', () => {
    it('echoes a well-formed x-request-id in the header and in error bodies', async () => {
      const id = 'client-req-0001';
      const ok = await t.request('GET', '/healthz', { headers: { 'x-request-id': id } });
      expect(ok.headers.get('x-request-id')).toBe(id);
      const err = await t.request('GET', '/api/v1/nope', { headers: { 'x-request-id': id } });
      expect(expectError(err, 404, 'resource.not_found').error.requestId).toBe(id);
    });

    it.each([
      ['too short', 'abc'],
      ['too long', 'x'.repeat(65)],
      ['with spaces', 'two words here'],
      ['with a newline-ish payload', 'abc\\ndef<script>'],
    ])('replaces an id that is %s with its own', async (_why, id) => {
      const res = await t.request('GET', '/healthz', { headers: { 'x-request-id': id } });
      const got = res.headers.get('x-request-id') ?? '';
      expect(got).not.toBe(id);
      expect(got).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('gives every request its own id when the client sends none', async () => {
      const a = await t.request('GET', '/healthz');
      const b = await t.request('GET', '/healthz');
      expect(a.headers.get('x-request-id')).toBeTruthy();
      expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
    });
  });

  describe('unexpected errors (500 internal.unexpected)', () => {
    it('answers 500 without internals and logs the error with the request id', async () => {
      const res = await t.request('GET', '/api/v1/test/boom', {
        headers: { 'x-request-id': 'boom-request-1' },
      });
      const body = expectError(res, 500, 'internal.unexpected');
      expect(body.error.requestId).toBe('boom-request-1');
      expect(res.text).not.toMatch(/hunter2|secret|\/srv\/|db\.ts|stack|Error:/);
      const logged = logLines.find((l) => l.requestId === 'boom-request-1' && l.level === 50);
      expect(logged, JSON.stringify(logLines.slice(-3))).toBeDefined();
      expect(JSON.stringify(logged)).toContain('secret internals');
    });

    // Hono hands only Error instances to app.onError; the first middleware catches anything else.
    it('answers 500 in the error shape for a thrown non-Error too', async () => {
      const res = await t.request('GET', '/api/v1/test/throw-string');
      expectError(res, 500, 'internal.unexpected');
      expect(res.text).not.toContain('eyJhbGciOi');
    });

    it("maps a typed error to its code's status and keeps its cause out of the answer", async () => {
      const res = await t.request('GET', '/api/v1/test/typed');
      expectError(res, 409, 'resource.conflict');
      expect(res.text).not.toContain('secret cause');
    });
  });
});
