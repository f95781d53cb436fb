import { ERROR_CODES, type ErrorCode, FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './types.js';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; reenroll?: boolean };
}

/** Maps any error to `{ error: { code, message, requestId } }`; unknown errors reveal nothing. */
export function errorResponse(c: Context<AppEnv>, err: unknown): Response {
  const requestId = c.get('requestId') ?? 'unknown';
  if (err instanceof FerryError) {
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
