import { ERROR_CODES, type ErrorCode, FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { asClientError } from '../services/client-text-error.js';
import { RETRY_AFTER_DETAIL } from '../services/rate-limit.js';
import type { AppEnv } from './types.js';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; reenroll?: boolean };
}

/** Seconds a rate-limited caller should wait (sent as Retry-After), when the error says. */
export function retryAfterOf(err: FerryError): number | undefined {
  const seconds = err.details?.[RETRY_AFTER_DETAIL];
  return typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : undefined;
}

/** Maps any error to `{ error: { code, message, requestId } }`; unknown errors reveal nothing. */
export function errorResponse(c: Context<AppEnv>, thrown: unknown): Response {
  const requestId = c.get('requestId') ?? 'unknown';
  const err = asClientError(thrown);
  if (err instanceof FerryError) {
    const retryAfter = retryAfterOf(err);
    if (retryAfter !== undefined) c.header('retry-after', String(retryAfter));
    const body: ErrorBody = { error: { code: err.code, message: err.message, requestId } };
    if (err.code === 'auth.reenroll') body.error.reenroll = true;
    return c.json(body, ERROR_CODES[err.code].http as ContentfulStatusCode);
  }
  if (err instanceof HTTPException && err.status >= 400 && err.status < 500) {
    // Hono's own 4xx, e.g. its JSON validator's "Malformed JSON in request body".
    const code: ErrorCode = err.status === 413 ? 'request.too_large' : 'request.invalid';
    return c.json(
      { error: { code, message: err.message || 'invalid request', requestId } } satisfies ErrorBody,
      err.status,
    );
  }
  c.get('deps')?.log.error({ err, requestId }, 'unhandled error');
  const body: ErrorBody = {
    error: {
      code: 'internal.unexpected',
      message: 'internal error; quote the request id to support',
      requestId,
    },
  };
  return c.json(body, 500);
}
