/**
 * Hostile bodies on every route that takes one, enumerated from the app's route table: the wrong
 * content type, malformed JSON, JSON of the wrong shape, and bodies over the 1 MiB limit (declared,
 * and streamed without a length). Each gets its 4xx code in the one error shape, never a 500, and no
 * answer carries internals. http/edge.test.ts covers the edge on the login route in depth; this file
 * sweeps all routes. Body handling does not touch the database, so PGlite is enough here.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppRoute,
  appRoutes,
  fillPath,
  findLeak,
  routesWithJsonBody,
} from '../../../testkit/control-plane/attack.js';
import { sendGrowingBody } from '../../../testkit/control-plane/chunked-body.js';
import {
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedUser,
  type TestApp,
  type TestGateway,
  type TestResponse,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';

const MIB = 1 << 20;
const PUBLIC = new Set(['/api/v1/auth/login', '/api/v1/agents/enroll']);
/** Routes that end the caller's sessions when they succeed: each call gets a user of its own. */
const ENDS_SESSIONS = new Set(['/api/v1/auth/logout', '/api/v1/me/password']);

describe('hostile bodies on every route (pglite)', () => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  let jsonRoutes: AppRoute[];
  let declared: Set<string>;
  let consoleForms: AppRoute[];

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Bodies', { operator: true });
    gw = await enrollTestGateway(t, g);
    const withBody = appRoutes(t).filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));
    jsonRoutes = withBody.filter((r) => r.path.startsWith('/api/'));
    declared = routesWithJsonBody(t);
    consoleForms = withBody.filter((r) => !r.path.startsWith('/api/') && !r.path.startsWith('/blobs/'));
  });
  afterAll(async () => {
    await t?.close();
  });

  const secrets = () => [Buffer.from(t.deps.sessionSecret).toString('base64url'), g.admin.token];
  const pathOf = (r: AppRoute) => fillPath(r.path, () => randomUUID());
  /** The right caller's token: each agent call signs a fresh one (jtis are single use). */
  const tokenFor = async (r: AppRoute): Promise<string | undefined> => {
    if (PUBLIC.has(r.path)) return undefined;
    if (ENDS_SESSIONS.has(r.path)) return (await seedUser(t, g.groupId, 'admin')).token;
    return r.path.startsWith('/api/v1/agents/') ? gw.token() : g.admin.token;
  };
  const clean = (res: TestResponse<unknown>) => {
    expect(findLeak(res.text, secrets()), res.text.slice(0, 300)).toBeUndefined();
  };
  const forEachRoute = async (fn: (r: AppRoute) => Promise<void>) => {
    for (const r of jsonRoutes) await fn(r);
  };
  /**
   * A route that declares a JSON body refuses a bad one with 400 request.invalid; one that takes no
   * body (e.g. POST .../revoke) ignores it, so it answers as without one, but never with a 5xx.
   */
  const expectRefusedBody = (r: AppRoute, res: TestResponse<unknown>) => {
    if (declared.has(`${r.method} ${r.path}`)) expectError(res, 400, 'request.invalid');
    else expect(res.status, `${r.method} ${r.path}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
    clean(res);
  };

  it('finds the routes to attack in the route table', () => {
    const names = jsonRoutes.map((r) => `${r.method} ${r.path}`);
    // A floor, not a list: new routes join the sweep by themselves.
    expect(names.length, names.join('\n')).toBeGreaterThanOrEqual(15);
    expect(names).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/login',
        'POST /api/v1/agents/enroll',
        'POST /api/v1/agents/uploads',
        'POST /api/v1/facilities',
      ]),
    );
    expect(consoleForms.map((r) => r.path)).toContain('/login');
    // Most of them declare a body (the rest, like revoke, take none).
    expect(jsonRoutes.filter((r) => declared.has(`${r.method} ${r.path}`)).length).toBeGreaterThanOrEqual(10);
  });

  it('answers a wrong content type with 415 request.unsupported_media_type on every JSON route', async () => {
    await forEachRoute(async (r) => {
      for (const type of [
        'text/plain',
        'application/xml',
        'application/jsonx',
        'multipart/form-data; boundary=b',
      ]) {
        const token = await tokenFor(r);
        const res = await t.request(r.method, pathOf(r), {
          ...(token ? { token } : {}),
          rawBody: '{"a":1}',
          headers: { 'content-type': type },
        });
        expectError(res, 415, 'request.unsupported_media_type');
        clean(res);
      }
    });
  });

  it('answers malformed JSON with 400 request.invalid on every JSON route', async () => {
    await forEachRoute(async (r) => {
      for (const rawBody of ['{"a":', '{"a":1}}', "{'a':1}", '\u0000', 'nul', '{"a":1,}']) {
        const token = await tokenFor(r);
        const res = await t.request(r.method, pathOf(r), {
          ...(token ? { token } : {}),
          rawBody,
          headers: { 'content-type': 'application/json' },
        });
        expectRefusedBody(r, res);
      }
    });
  });

  it('answers JSON of the wrong shape with 400 request.invalid on every JSON route', async () => {
    await forEachRoute(async (r) => {
      const shapes: unknown[] = [
        [],
        'a string',
        42,
        { __proto__: { admin: true }, constructor: { prototype: { isOperator: true } } },
        { name: { $ne: null }, email: ["' OR 1=1 --"], objects: 'x'.repeat(10_000) },
      ];
      for (const body of shapes) {
        const token = await tokenFor(r);
        const res = await t.request(r.method, pathOf(r), { ...(token ? { token } : {}), body });
        expectRefusedBody(r, res);
      }
    });
  });

  it('answers a body over 1 MiB with 413 request.too_large on every JSON route, declared or streamed', async () => {
    const big = `{"pad":"${'x'.repeat(MIB + 16)}"}`;
    await forEachRoute(async (r) => {
      const token = await tokenFor(r);
      const declared = await t.request(r.method, pathOf(r), {
        ...(token ? { token } : {}),
        rawBody: big,
        headers: { 'content-type': 'application/json' },
      });
      expectError(declared, 413, 'request.too_large');
      clean(declared);
      const streamed = await sendGrowingBody(
        t,
        r.method,
        pathOf(r),
        MIB,
        token ? { authorization: `Bearer ${token}` } : {},
      );
      expect(streamed.status, `${r.method} ${r.path}`).toBe(413);
      expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe('request.too_large');
    });
  });

  // Regression: the console's forms had no body limit, and parseBody() read any size into memory.
  it('answers an oversized console form with 413 request.too_large before reading it', async () => {
    const big = `email=a%40b.c&password=${'x'.repeat(2 * MIB)}`;
    for (const r of consoleForms) {
      const res = await t.request(r.method, pathOf(r), {
        rawBody: big,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `ferry_session=${g.admin.token}`,
        },
      });
      expectError(res, 413, 'request.too_large');
    }
  });
});
