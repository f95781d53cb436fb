import {
  type AgentSelf,
  agentSelfSchema,
  apiErrorBodySchema,
  type EnrollRequest,
  type EnrollResponse,
  ERROR_CODES,
  enrollResponseSchema,
  FerryError,
  rotateKeyResponseSchema,
  UPLOAD_TEST_PATH,
  type UploadCompleteRequest,
  type UploadCompleteResponse,
  type UploadOfferRequest,
  type UploadOfferResponse,
  type UploadTestStartResponse,
  type UploadTestVerifyResponse,
  uploadCompleteResponseSchema,
  uploadOfferResponseSchema,
  uploadTestStartResponseSchema,
  uploadTestVerifyPath,
  uploadTestVerifyResponseSchema,
} from '@ferry/shared';
import type { JWK } from 'jose';
import type { z } from 'zod';
import { signAgentToken } from './agent-token.js';
import { deadline } from './deadline.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The control plane's base URL as agent tokens name it (`aud`): http(s) only, no trailing slash,
 * no query or fragment.
 */
export function normalizeServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new FerryError('config.invalid', `server URL "${raw}" is not a URL`, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new FerryError('config.invalid', `server URL must start with https:// or http://, not "${raw}"`);
  if (url.search || url.hash || url.username || url.password)
    throw new FerryError('config.invalid', `server URL must not carry a query, fragment or credentials`);
  return url.toString().replace(/\/+$/, '');
}

export interface ControlPlaneClientOptions {
  server: string;
  /** The enrolled gateway and its private key: signs a fresh token for every authenticated call. */
  auth?: { gatewayId: string; privateJwk: JWK };
  /** Called before the error is thrown when the control plane says this gateway must enroll again. */
  onReenroll?: (err: FerryError) => Promise<void>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** A small client for the control plane's agent API; errors come back as FerryErrors with the server's code. */
export class ControlPlaneClient {
  readonly server: string;
  readonly #opts: ControlPlaneClientOptions;

  constructor(opts: ControlPlaneClientOptions) {
    this.server = normalizeServerUrl(opts.server);
    this.#opts = opts;
  }

  /** Exchanges an enrollment token for a registration; the token is the only credential. */
  enroll(body: EnrollRequest): Promise<EnrollResponse> {
    return this.#call('POST', '/api/v1/agents/enroll', enrollResponseSchema, { body, signed: false });
  }

  /** Registers `publicKey` as the gateway's new key; this call is signed with the current one. */
  rotateKey(publicKey: JWK): Promise<z.infer<typeof rotateKeyResponseSchema>> {
    return this.#call('POST', '/api/v1/agents/rotate-key', rotateKeyResponseSchema, {
      body: { publicKey: { kty: publicKey.kty, crv: publicKey.crv, x: publicKey.x } },
      signed: true,
    });
  }

  /** The gateway as the control plane knows it: facility and latest desired config. */
  me(): Promise<AgentSelf> {
    return this.#call('GET', '/api/v1/agents/me', agentSelfSchema, { signed: true });
  }

  /**
   * Offers spooled objects for upload; the answer says per object: stored, upload (with part URLs) or
   * refused. `timeoutMs` replaces the client's timeout for this call.
   */
  offerUploads(
    body: UploadOfferRequest,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<UploadOfferResponse> {
    return this.#call('POST', '/api/v1/agents/uploads', uploadOfferResponseSchema, {
      body,
      signed: true,
      ...(signal ? { signal } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  /** Asks for receipts of objects whose parts are all sent; `timeoutMs` as for offerUploads. */
  completeUploads(
    body: UploadCompleteRequest,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<UploadCompleteResponse> {
    return this.#call('POST', '/api/v1/agents/uploads/complete', uploadCompleteResponseSchema, {
      body,
      signed: true,
      ...(signal ? { signal } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  /** Starts an upload round-trip test: a presigned URL to PUT `bytes` random bytes to. */
  startUploadTest(signal?: AbortSignal): Promise<UploadTestStartResponse> {
    return this.#call('POST', UPLOAD_TEST_PATH, uploadTestStartResponseSchema, {
      signed: true,
      ...(signal ? { signal } : {}),
    });
  }

  /** Has the control plane read the test object back and compare it with `sha256` (it deletes it). */
  verifyUploadTest(testId: string, sha256: string, signal?: AbortSignal): Promise<UploadTestVerifyResponse> {
    return this.#call('POST', uploadTestVerifyPath(testId), uploadTestVerifyResponseSchema, {
      body: { sha256 },
      signed: true,
      ...(signal ? { signal } : {}),
    });
  }

  async #call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    /**
     * `signal`: the caller gives up (an agent stopping); the call's own timeout (`timeoutMs`, else
     * the client's) applies as well, to the answer's body too.
     */
    opts: { body?: unknown; signed: boolean; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<z.infer<S>> {
    const url = `${this.server}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.signed) {
      const auth = this.#opts.auth;
      if (!auth)
        throw new FerryError('auth.missing_token', 'this gateway is not enrolled; run `ferry-agent enroll`');
      headers.authorization = `Bearer ${await signAgentToken({
        privateJwk: auth.privateJwk,
        gatewayId: auth.gatewayId,
        audience: this.server,
      })}`;
    }
    const doFetch = this.#opts.fetch ?? fetch;
    const limit = deadline(opts.signal, opts.timeoutMs ?? this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: limit.signal,
        redirect: 'error',
      });
      text = await res.text();
    } catch (cause) {
      const why = (cause as Error).name === 'TimeoutError' ? 'timed out' : describeFetchError(cause);
      throw new FerryError(
        'control.unreachable',
        `cannot reach the control plane at ${this.server}: ${why}`,
        {
          cause,
        },
      );
    } finally {
      limit.clear();
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) throw await this.#errorFrom(res, json, method, path);
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new FerryError(
        'control.bad_response',
        `${method} ${path} answered ${res.status} with a body this agent does not understand`,
        { cause: parsed.error },
      );
    return parsed.data;
  }

  async #errorFrom(res: Response, json: unknown, method: string, path: string): Promise<FerryError> {
    const body = apiErrorBodySchema.safeParse(json);
    if (!body.success) {
      return new FerryError(
        res.status >= 500 ? 'control.unreachable' : 'control.bad_response',
        `${method} ${path} failed with HTTP ${res.status} and no Ferry error body`,
        { details: { status: res.status } },
      );
    }
    const { code, message, requestId, reenroll } = body.data.error;
    const known = Object.hasOwn(ERROR_CODES, code);
    const err = new FerryError(
      known ? (code as keyof typeof ERROR_CODES) : 'control.bad_response',
      known ? message : `${message} (unknown error code ${code})`,
      { details: { status: res.status, requestId, reenroll: reenroll === true } },
    );
    if (reenroll === true && this.#opts.onReenroll) await this.#opts.onReenroll(err);
    return err;
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
