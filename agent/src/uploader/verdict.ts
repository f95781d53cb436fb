import { isFerryError } from '@ferry/shared';

/**
 * What a failed upload step means for the object:
 * - transient: network errors, timeouts, 5xx, 408, 429, `retry` answers, token trouble: back off, try again;
 * - permanent: the control plane or the store refused this object (other 4xx): quarantine it;
 * - reenroll: the control plane no longer knows this gateway: stop uploading altogether.
 */
export type Verdict = 'transient' | 'permanent' | 'reenroll';

const TRANSIENT_CODES = new Set([
  'control.unreachable',
  // A body this agent cannot read (a proxy's error page, a newer server): not the object's fault.
  'control.bad_response',
  'storage.unavailable',
  'db.unavailable',
  'spool.io_error',
]);

export function verdictOf(err: unknown): Verdict {
  // Anything not typed (a bug, an unexpected library error) is retried, never a reason to give up
  // on a patient's images.
  if (!isFerryError(err)) return 'transient';
  if (err.details?.reenroll === true || err.code === 'auth.reenroll') return 'reenroll';
  if (err.retryable || TRANSIENT_CODES.has(err.code)) return 'transient';
  // Credentials are the gateway's problem, not the object's: expired or replayed tokens, clock skew.
  if (err.code.startsWith('auth.')) return 'transient';
  // The HTTP status a server answered with, when it did; local errors (a spool object gone) have none.
  const status = typeof err.details?.status === 'number' ? err.details.status : undefined;
  if (status === 401 || status === 408 || status === 429 || (status !== undefined && status >= 500))
    return 'transient';
  return 'permanent';
}
