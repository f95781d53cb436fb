/**
 * How tests speak to an in-process app: requests through `app.request` (no socket, so no client
 * address) and the credentials they carry, session tokens (bearer or console cookie) for users and
 * agent tokens for gateways.
 */
import { randomBytes } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { AppDeps } from '../../control-plane/src/app-deps.js';
import type { Database } from '../../control-plane/src/db/client.js';
import * as schema from '../../control-plane/src/db/schema/index.js';
import { SESSION_COOKIE } from '../../control-plane/src/edge/auth-middleware.js';
import type { AppEnv } from '../../control-plane/src/edge/types.js';
import { csrfTokenFor } from '../../control-plane/src/web/csrf.js';
import { TEST_PUBLIC_URL } from './names.js';

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Serialised as JSON, with `Content-Type: application/json`. */
  body?: unknown;
  /** Sent as is (no content type unless given in `headers`). */
  rawBody?: string;
  /** Added last, so they override the above (`content-length` is set for any body). */
  headers?: Record<string, string>;
}

export interface TestResponse<T = Record<string, unknown>> {
  status: number;
  /** The parsed JSON body; `{}` when the body is empty or not JSON (see `text`). */
  body: T;
  /** The raw body text. */
  text: string;
  headers: Headers;
}

/** A GET through `app.request` answered as the raw Response: for bodies that are not JSON (zip, multipart). */
export async function getRaw(
  t: { app: OpenAPIHono<AppEnv> },
  path: string,
  opts: { token: string; headers?: Record<string, string> },
): Promise<Response> {
  return t.app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    headers: { authorization: `Bearer ${opts.token}`, ...opts.headers },
  });
}

/** What TestApp.request does: the JSON in, the status, headers, text and parsed body out. */
export async function requestApp<T>(
  app: OpenAPIHono<AppEnv>,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<TestResponse<T>> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  if (opts.rawBody !== undefined) body = opts.rawBody;
  // As a client on the wire would: without it the app cannot tell that a body is there.
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value;
  const res = await app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    method: method.toUpperCase(),
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let parsed: unknown = {};
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = {};
    }
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

export interface SendOptions {
  /** Bearer token (API, DICOMweb, agent routes). */
  token?: string;
  /** A session token sent as the console's cookie; a form then carries the session's CSRF token. */
  session?: string;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

export type SendResult = TestResponse<unknown> & { location: string | undefined };

/** How much of an event stream is read: up to the end of its first event. */
async function readStart(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!/\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    // Cancelling is how a browser leaving the page ends the stream's loop.
    await reader.cancel().catch(() => {});
  }
  return text;
}

/**
 * One request through the app in process, as an API client, a browser (console, with its session
 * cookie and the form's CSRF token) or an agent would send it; an event stream is read to its first event.
 */
export async function send(
  app: OpenAPIHono<AppEnv>,
  sessionSecret: Uint8Array,
  method: string,
  path: string,
  opts: SendOptions = {},
): Promise<SendResult> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  if (opts.session !== undefined) {
    headers.cookie = `${SESSION_COOKIE}=${opts.session}`;
    if (opts.form !== undefined) {
      body = new URLSearchParams({
        _csrf: csrfTokenFor(sessionSecret, opts.session),
        ...opts.form,
      }).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value;
  const res = await app.request(new URL(path, TEST_PUBLIC_URL).toString(), {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const stream = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const text = stream ? await readStart(res) : await res.text();
  let parsed: unknown = {};
  try {
    parsed = text.length > 0 && !stream ? JSON.parse(text) : {};
  } catch {
    parsed = {};
  }
  const location = res.headers.get('location') ?? undefined;
  return {
    status: res.status,
    body: parsed,
    text,
    headers: res.headers,
    location: location === undefined ? undefined : new URL(location, TEST_PUBLIC_URL).pathname,
  };
}

/**
 * A session token signed with the app's real secret, with any claims and lifetime (for expiry tests).
 * Its session version is the user's current one unless `sv` is given.
 */
export async function sessionTokenFor(
  t: { database: Database; deps: Pick<AppDeps, 'sessionSecret'> },
  user: { id: string; groupId: string; role: 'admin' | 'reader'; isOperator?: boolean },
  opts: { expSeconds?: number; secret?: Uint8Array; sv?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + (opts.expSeconds ?? 1800);
  const [row] = await t.database.db
    .select({ sv: schema.users.sessionVersion })
    .from(schema.users)
    .where(eq(schema.users.id, user.id));
  const sv = opts.sv ?? row?.sv ?? 1;
  return new SignJWT({ grp: user.groupId, role: user.role, op: user.isOperator ?? false, sv })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer('ferry-control-plane')
    .setAudience('ferry-control-plane')
    .setIssuedAt(Math.min(now, exp - 60))
    .setExpirationTime(exp)
    .sign(opts.secret ?? t.deps.sessionSecret);
}

// ---------------------------------------------------------------------------------------------
// Agents

export interface AgentTokenOptions {
  /** Seconds from now until `exp` (default 60); negative for an expired token. */
  expSeconds?: number;
  /** Issued-at, seconds since the epoch (default: now, or 60 s before `exp` when `exp` is past). */
  iat?: number;
  jti?: string;
  aud?: string;
  /** Sign with another key (default: the gateway's own). */
  privateKey?: CryptoKey;
}

export async function newAgentKeyPair(): Promise<{ privateKey: CryptoKey; privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { privateKey, privateJwk: await exportJWK(privateKey), publicJwk: await exportJWK(publicKey) };
}

/** Signs an agent token as an agent does (see auth/agent-token.ts). */
export async function signAgentToken(
  privateKey: CryptoKey,
  gatewayId: string,
  opts: AgentTokenOptions & { defaultAudience?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const expSeconds = opts.expSeconds ?? 60;
  const exp = now + expSeconds;
  const iat = opts.iat ?? (expSeconds > 0 ? now : exp - 60);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(gatewayId)
    .setAudience(opts.aud ?? opts.defaultAudience ?? TEST_PUBLIC_URL)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(opts.jti ?? randomBytes(18).toString('base64url'))
    .sign(opts.privateKey ?? privateKey);
}
