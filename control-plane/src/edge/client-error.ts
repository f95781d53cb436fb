import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '@ferry/shared';
import type { ErrorBody } from './errors.js';

/**
 * Node's answer to a request its HTTP parser rejects (garbage, bytes past a Content-Length, oversized
 * headers, a body that stalls past the request timeout) is a bare status with no body. This writes
 * the API's one error shape instead, so every refusal carries a code, then closes the connection.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message]: [number, string, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request.too_large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request.invalid', 'the request was not completed in time']
        : [400, 'Bad Request', 'request.invalid', 'malformed HTTP request'];
  const body = JSON.stringify({ error: { code, message, requestId: randomUUID() } } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
