/**
 * The one shared security suite (after unkey's runCommonRouteTests): every authenticated route runs it
 * once per backend. Describe the route in one line; the suite makes a fresh app, two groups (A and B),
 * gateways for agent routes, and the route's resource in each group, then checks what every route must
 * refuse and that the right caller gets in.
 *
 * ```ts
 * describe.each(BACKENDS)('facilities security (%s)', (backend) => {
 *   runCommonRouteTests(backend, { method: 'GET', path: (ids) => `/api/v1/facilities/${ids.facilityId}`,
 *     caller: 'user', resourceOfGroup: facilityOf });
 * });
 * ```
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../control-plane/src/db/schema/index.js';
import {
  type Backend,
  createTestApp,
  enrollTestGateway,
  newAgentKeyPair,
  type SeededGroup,
  type SeededUser,
  sessionTokenFor,
  signAgentToken,
  type TestApp,
  type TestGateway,
  type TestResponse,
} from './harness.js';

/**
 * Who may call the route: `user` = any signed-in user of the group (readers included), `admin` = the
 * group's admins, `operator` = platform operators, `agent` = an enrolled gateway.
 */
export type Caller = 'admin' | 'user' | 'agent' | 'operator';

/** The ids a path or body is built from: the group's, the calling gateway's, and the route's own. */
export type RouteIds<I extends object = Record<string, string>> = I & {
  groupId: string;
  /** The calling gateway on agent routes ('' on user routes). */
  callerGatewayId: string;
};

type Body = Record<string, unknown> | unknown[] | string | number | boolean | null;

export interface CommonRoute<I extends object = Record<string, string>> {
  method: string;
  /** A fixed path, or one built from the ids of the group's resource. */
  path: string | ((ids: RouteIds<I>) => string);
  /** JSON body, fixed or built from the ids (a body that references the resource counts as addressing it). */
  body?: Body | ((ids: RouteIds<I>) => Body);
  caller: Caller;
  /**
   * Makes "a resource owned by `group`" and returns its ids (string values, e.g. `{ facilityId }`).
   * Called once for group A and once for group B; on agent routes `group.gateway` is the group's calling
   * gateway.
   */
  resourceOfGroup?: (t: TestApp, group: SeededGroup & { gateway?: TestGateway }) => Promise<I>;
  /**
   * How another group's caller is treated. `not_found` (default when the path or body changes with the
   * resource): 404 for A's resource, and 404 for an unknown id. `filtered` (default otherwise, e.g. lists
   * and creates): it gets in, and the answer never mentions any of A's ids. `none`: not checked
   * (operator routes default to this).
   */
  otherGroup?: 'not_found' | 'filtered' | 'none';
  /** The status the right caller gets (default: any 2xx). */
  okStatus?: number | number[];
  /** Extra request headers for every request. */
  headers?: Record<string, string>;
  /** Test title (default `METHOD /path/{id}`). */
  name?: string;
}

interface ErrorShape {
  error: { code: string; message: string; requestId: string; reenroll?: boolean };
}

/** Asserts the status, the code and the one error shape `{ error: { code, message, requestId } }`. */
export function expectError(res: TestResponse<unknown>, status: number, code: string): ErrorShape {
  const context = `${res.status} ${res.text.slice(0, 500)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/json/);
  const body = res.body as ErrorShape;
  expect(Object.keys(body as object), context).toEqual(['error']);
  expect(body.error.code, context).toBe(code);
  expect(typeof body.error.message, context).toBe('string');
  expect(body.error.message.length, context).toBeGreaterThan(0);
  expect(body.error.requestId, context).toBe(res.headers.get('x-request-id'));
  for (const key of Object.keys(body.error)) {
    expect(['code', 'message', 'requestId', 'reenroll'], `unexpected error member ${key}`).toContain(key);
  }
  return body;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned JWT (`alg: none`) with the given claims. */
export function unsignedToken(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}

/** Stand-in ids: `{facilityId}` (with a suffix) for every id a path or body asks for. */
function placeholderIds<I extends object>(suffix = ''): RouteIds<I> {
  return new Proxy({} as RouteIds<I>, {
    get: (_, key) => (typeof key === 'string' ? `{${key}${suffix}}` : undefined),
  });
}

function build<I extends object, R>(value: R | ((ids: RouteIds<I>) => R), ids: RouteIds<I>): R {
  return typeof value === 'function' ? (value as (ids: RouteIds<I>) => R)(ids) : value;
}

/**
 * How group B is kept out: when the path or body changes with the ids, the route addresses a resource
 * (so B gets 404); otherwise B gets its own, filtered view.
 */
function otherGroupMode<I extends object>(route: CommonRoute<I>): 'not_found' | 'filtered' | 'none' {
  if (route.otherGroup) return route.otherGroup;
  if (route.caller === 'operator') return 'none';
  const a = placeholderIds<I>('-A');
  const b = placeholderIds<I>('-B');
  const same =
    build(route.path, a) === build(route.path, b) &&
    JSON.stringify(build(route.body, a)) === JSON.stringify(build(route.body, b));
  return same ? 'filtered' : 'not_found';
}

function idValues(ids: object): string[] {
  return Object.values(ids).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

const RIGHT_CALLER: Record<Caller, string> = {
  user: "a reader of the resource's group",
  admin: "an admin of the resource's group",
  operator: 'a platform operator',
  agent: "a gateway of the resource's group",
};

interface World<I extends object> {
  t: TestApp;
  a: SeededGroup;
  b: SeededGroup;
  gwA: TestGateway | undefined;
  gwB: TestGateway | undefined;
  idsA: RouteIds<I>;
  idsB: RouteIds<I>;
}

/** Registers the shared security tests for one route on one backend (call inside a describe or at top level). */
export function runCommonRouteTests<I extends object = Record<string, string>>(
  backend: Backend,
  route: CommonRoute<I>,
): void {
  const method = route.method.toUpperCase();
  const title = route.name ?? `${method} ${build(route.path, placeholderIds<I>())}`;
  const isAgent = route.caller === 'agent';
  const otherGroup = otherGroupMode(route);

  describe(`${title} — common security (${backend}, caller: ${route.caller})`, () => {
    let w: World<I>;

    beforeAll(async () => {
      const t = await createTestApp(backend);
      const a = await t.seedGroup('Group A', { operator: route.caller === 'operator' });
      const b = await t.seedGroup('Group B');
      const gwA = isAgent ? await enrollTestGateway(t, a) : undefined;
      const gwB = isAgent ? await enrollTestGateway(t, b) : undefined;
      const idsOf = async (g: SeededGroup, gw: TestGateway | undefined): Promise<RouteIds<I>> => {
        const own = route.resourceOfGroup
          ? await route.resourceOfGroup(t, gw ? { ...g, gateway: gw } : g)
          : ({} as I);
        return { groupId: g.groupId, callerGatewayId: gw?.gatewayId ?? '', ...own };
      };
      const idsA = await idsOf(a, gwA);
      const idsB = await idsOf(b, gwB);
      w = { t, a, b, gwA, gwB, idsA, idsB };
    });
    afterAll(async () => {
      await w?.t.close();
    });

    /** Calls the route with group A's ids (or `ids`), with the given token and headers. */
    const call = (
      token: string | undefined,
      opts: { ids?: RouteIds<I>; headers?: Record<string, string> } = {},
    ) => {
      const ids = opts.ids ?? w.idsA;
      const body = build(route.body, ids);
      return w.t.request(method, build(route.path, ids), {
        ...(token !== undefined ? { token } : {}),
        ...(body !== undefined ? { body } : {}),
        headers: { ...route.headers, ...opts.headers },
      });
    };
    /** A valid token for the right caller of group A. */
    const rightToken = async (): Promise<string> => {
      if (isAgent) return w.gwA!.token();
      return route.caller === 'user' ? w.a.reader.token : w.a.admin.token;
    };
    const userOf = (g: SeededGroup, u: SeededUser, role: 'admin' | 'reader') => ({
      id: u.id,
      groupId: g.groupId,
      role,
      isOperator: route.caller === 'operator' && role === 'admin' && g === w.a,
    });

    const expectOk = (res: TestResponse<unknown>) => {
      const ok = route.okStatus === undefined ? undefined : [route.okStatus].flat();
      if (ok) expect(ok, `${res.status} ${res.text.slice(0, 500)}`).toContain(res.status);
      else {
        expect(res.status, res.text.slice(0, 500)).toBeGreaterThanOrEqual(200);
        expect(res.status, res.text.slice(0, 500)).toBeLessThan(300);
      }
    };

    it('refuses a request without credentials (401 auth.missing_token)', async () => {
      expectError(await call(undefined), 401, 'auth.missing_token');
    });

    it('refuses a malformed token (401 auth.invalid_token)', async () => {
      expectError(await call('not-a-jwt'), 401, 'auth.invalid_token');
      expectError(await call('eyJhbGciOiJIUzI1NiJ9.e30.'), 401, 'auth.invalid_token');
    });

    it('refuses an unsigned token, alg none (401 auth.invalid_token)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = isAgent
        ? { sub: w.gwA!.gatewayId, aud: w.t.deps.publicUrl, iat: now, exp: now + 60, jti: randomUUID() }
        : {
            sub: w.a.admin.id,
            grp: w.a.groupId,
            role: 'admin',
            op: true,
            sv: 1,
            iss: 'ferry-control-plane',
            aud: 'ferry-control-plane',
            iat: now,
            exp: now + 600,
          };
      expectError(await call(unsignedToken(claims)), 401, 'auth.invalid_token');
    });

    if (isAgent) {
      it("refuses a token signed with another gateway's key (401 auth.invalid_token)", async () => {
        const other = await newAgentKeyPair();
        expectError(
          await call(
            await signAgentToken(other.privateKey, w.gwA!.gatewayId, { defaultAudience: w.t.deps.publicUrl }),
          ),
          401,
          'auth.invalid_token',
        );
      });

      it('refuses an expired agent token (401 auth.expired_token)', async () => {
        expectError(await call(await w.gwA!.token({ expSeconds: -30 })), 401, 'auth.expired_token');
      });

      it('refuses an agent token issued over 5 minutes ago or dated ahead (auth.expired_token, auth.token_not_yet_valid)', async () => {
        const now = Math.floor(Date.now() / 1000);
        expectError(
          await call(await w.gwA!.token({ iat: now - 330, expSeconds: 60 })),
          401,
          'auth.expired_token',
        );
        expectError(
          await call(await w.gwA!.token({ iat: now + 600, expSeconds: 660 })),
          401,
          'auth.token_not_yet_valid',
        );
      });

      it('refuses a token for another audience or living longer than 5 minutes (401 auth.invalid_token)', async () => {
        expectError(
          await call(await w.gwA!.token({ aud: 'https://elsewhere.example' })),
          401,
          'auth.invalid_token',
        );
        const now = Math.floor(Date.now() / 1000);
        expectError(
          await call(await w.gwA!.token({ iat: now, expSeconds: 3600 })),
          401,
          'auth.invalid_token',
        );
      });

      it('refuses a replayed agent token (401 auth.replayed_token)', async () => {
        const token = await w.gwA!.token();
        const first = await call(token);
        expect(first.status, first.text).not.toBe(401);
        expectError(await call(token), 401, 'auth.replayed_token');
      });

      it('tells a revoked gateway to re-enroll (401 auth.reenroll, reenroll: true)', async () => {
        const gw = await enrollTestGateway(w.t, w.a);
        await gw.revoke();
        const body = expectError(await call(await gw.token()), 401, 'auth.reenroll');
        expect(body.error.reenroll).toBe(true);
      });

      it('tells an unknown gateway to re-enroll (401 auth.reenroll)', async () => {
        const keys = await newAgentKeyPair();
        const token = await signAgentToken(keys.privateKey, randomUUID(), {
          defaultAudience: w.t.deps.publicUrl,
        });
        expect(expectError(await call(token), 401, 'auth.reenroll').error.reenroll).toBe(true);
      });

      it("refuses a user's session token (401 auth.invalid_token)", async () => {
        expectError(await call(w.a.admin.token), 401, 'auth.invalid_token');
      });
    } else {
      it('refuses a session token signed with another secret (401 auth.invalid_token)', async () => {
        const forged = await sessionTokenFor(w.t, userOf(w.a, w.a.admin, 'admin'), {
          secret: randomBytes(32),
        });
        expectError(await call(forged), 401, 'auth.invalid_token');
      });

      it('refuses an expired session token (401 auth.expired_token)', async () => {
        const expired = await sessionTokenFor(w.t, userOf(w.a, w.a.admin, 'admin'), { expSeconds: -60 });
        expectError(await call(expired), 401, 'auth.expired_token');
      });

      it('refuses an expired session cookie (401 auth.expired_token)', async () => {
        const expired = await sessionTokenFor(w.t, userOf(w.a, w.a.admin, 'admin'), { expSeconds: -60 });
        expectError(
          await call(undefined, { headers: { cookie: `ferry_session=${expired}` } }),
          401,
          'auth.expired_token',
        );
      });

      it("refuses a deactivated user's unexpired token (401 auth.invalid_token)", async () => {
        const c = await w.t.seedGroup('Deactivated', { operator: route.caller === 'operator' });
        await w.t.database.db
          .update(users)
          .set({ deactivatedAt: new Date() })
          .where(eq(users.id, c.admin.id));
        expectError(await call(c.admin.token), 401, 'auth.invalid_token');
      });

      it('refuses a token of an ended session: an older session version (401 auth.invalid_token)', async () => {
        const ended = await sessionTokenFor(w.t, userOf(w.a, w.a.admin, 'admin'), { sv: 0 });
        expectError(await call(ended), 401, 'auth.invalid_token');
      });

      it("refuses an agent's token (401 auth.invalid_token)", async () => {
        const gw = await enrollTestGateway(w.t, w.a);
        expectError(await call(await gw.token()), 401, 'auth.invalid_token');
      });
    }

    if (route.caller === 'admin' || route.caller === 'operator') {
      it('refuses a reader (403 auth.forbidden)', async () => {
        expectError(await call(w.a.reader.token), 403, 'auth.forbidden');
      });
    }
    if (route.caller === 'operator') {
      it('refuses an admin who is not a platform operator (403 auth.forbidden)', async () => {
        expectError(await call(w.b.admin.token), 403, 'auth.forbidden');
      });
    }

    const otherCallerToken = async (): Promise<string> => {
      if (isAgent) return w.gwB!.token();
      return route.caller === 'user' ? w.b.reader.token : w.b.admin.token;
    };

    if (otherGroup === 'not_found') {
      it("answers group B's caller 404 resource.not_found for group A's resource", async () => {
        expectError(await call(await otherCallerToken()), 404, 'resource.not_found');
      });

      it('answers 404 resource.not_found for an id that names nothing', async () => {
        const unknown = Object.fromEntries(
          Object.entries(w.idsA).map(([k, v]) => [
            k,
            k === 'groupId' || k === 'callerGatewayId' ? v : randomUUID(),
          ]),
        ) as RouteIds<I>;
        expectError(await call(await rightToken(), { ids: unknown }), 404, 'resource.not_found');
      });
    }

    if (otherGroup === 'filtered') {
      it("shows group B's caller none of group A's data", async () => {
        const res = await call(await otherCallerToken());
        expectOk(res);
        const mentions = [...idValues(w.idsA), w.a.groupId, w.a.admin.id, w.a.reader.id, w.a.admin.email];
        if (w.gwA) mentions.push(w.gwA.gatewayId, w.gwA.facilityId);
        const leaked = mentions.filter((v) => res.text.includes(v));
        expect(leaked, `group B saw group A's ids: ${res.text.slice(0, 500)}`).toEqual([]);
      });
    }

    it(`lets the right caller in (${RIGHT_CALLER[route.caller]})`, async () => {
      expectOk(await call(await rightToken()));
    });
  });
}
