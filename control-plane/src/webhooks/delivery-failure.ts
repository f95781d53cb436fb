import { isFerryError } from '@ferry/shared';

/**
 * Why a delivery failed, as admins see it (the deliveries list): a short fixed reason, never the
 * errno, address or resolver detail behind it (those reveal the network the control plane sits in,
 * and go to the log only).
 */
export const DELIVERY_FAILURE_REASONS = [
  'address not allowed',
  'name not resolved',
  'connection refused',
  'connection reset',
  'host unreachable',
  'timed out',
  'TLS error',
  'delivery failed',
] as const;

export type DeliveryFailureReason = (typeof DELIVERY_FAILURE_REASONS)[number] | `HTTP ${number}`;

const BY_CODE: Record<string, DeliveryFailureReason> = {
  ENOTFOUND: 'name not resolved',
  EAI_AGAIN: 'name not resolved',
  EAI_NONAME: 'name not resolved',
  EAI_FAIL: 'name not resolved',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  EHOSTDOWN: 'host unreachable',
  ENETDOWN: 'host unreachable',
  EADDRNOTAVAIL: 'host unreachable',
  ETIMEDOUT: 'timed out',
  ESOCKETTIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out',
  EPROTO: 'TLS error',
};

/** The reason for an error code (errno, OpenSSL or Node TLS code), if it names one. */
function reasonOfCode(code: string): DeliveryFailureReason | undefined {
  const known = BY_CODE[code];
  if (known) return known;
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/.test(code))
    return 'TLS error';
  return undefined;
}

/** The admin-facing reason for a failed attempt: the thrown error, or a timeout. */
export function deliveryFailureReason(
  err: unknown,
  opts: { timedOut?: boolean } = {},
): DeliveryFailureReason {
  if (isFerryError(err) && err.code === 'webhook.url_not_allowed') return 'address not allowed';
  if (opts.timedOut) return 'timed out';
  let e: unknown = err;
  // Node nests the socket error in `cause` (fetch) or not at all (http.request): look at both.
  for (let depth = 0; depth < 3 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      const reason = reasonOfCode(code);
      if (reason) return reason;
    }
    if ((e as { name?: unknown }).name === 'TimeoutError') return 'timed out';
    e = (e as { cause?: unknown }).cause;
  }
  return 'delivery failed';
}

/**
 * A stored last_error as admins may see it: the fixed reasons and `HTTP nnn` as they are; what older
 * versions stored (an errno such as ECONNREFUSED, "no answer within N ms", an error message) mapped
 * to a reason, or 'delivery failed'.
 */
export function shownDeliveryError(stored: string | null): string | null {
  if (stored === null) return null;
  if ((DELIVERY_FAILURE_REASONS as readonly string[]).includes(stored) || /^HTTP \d{3}$/.test(stored))
    return stored;
  if (/^no answer within /.test(stored)) return 'timed out';
  for (const token of stored.match(/\b[A-Z][A-Z0-9_]{3,}\b/g) ?? []) {
    const reason = reasonOfCode(token);
    if (reason) return reason;
  }
  return 'delivery failed';
}
