/**
 * multipart/related (RFC 2387) writer for WADO-RS: parts are produced lazily and streamed, one part's
 * body at a time, so a study of any size goes out in bounded memory.
 */
import { randomBytes } from 'node:crypto';

export interface MultipartPart {
  /** Header lines of the part, e.g. `Content-Type`. Values must not contain CR or LF. */
  headers: Record<string, string>;
  /** Opened when the writer reaches this part. */
  body: () => AsyncIterable<Uint8Array>;
}

/**
 * A boundary that will not occur in DICOM bytes by chance: 32 random hex digits (RFC 2046 allows 70
 * characters). Readers such as dicomweb-client search the body for it without parsing lengths.
 */
export function newBoundary(): string {
  return `ferry-${randomBytes(16).toString('hex')}`;
}

/** The Content-Type of a multipart/related response whose parts are `type`. */
export function multipartContentType(type: string, boundary: string): string {
  return `multipart/related; type="${type}"; boundary=${boundary}`;
}

function headerBlock(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${name} holds a line break`);
      return `${name}: ${value}\r\n`;
    })
    .join('');
}

/**
 * The body: `--boundary CRLF headers CRLF body CRLF` per part, then `--boundary--`. A part's body
 * failing midway fails the whole stream (the response must be aborted, not ended).
 */
export async function* multipartRelated(
  parts: AsyncIterable<MultipartPart> | Iterable<MultipartPart>,
  boundary: string,
): AsyncGenerator<Uint8Array> {
  for await (const part of parts) {
    yield Buffer.from(`--${boundary}\r\n${headerBlock(part.headers)}\r\n`, 'latin1');
    yield* part.body();
    yield Buffer.from('\r\n', 'latin1');
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}
