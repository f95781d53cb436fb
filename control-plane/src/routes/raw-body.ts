/** The raw body of a signed blob PUT (a part or a pack): exactly the signed length, or request.invalid. */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';

export function exactBody(c: Context, length: number): ReadableStream<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared === undefined || !/^[0-9]+$/.test(declared) || Number(declared) !== length)
    throw new FerryError(
      'request.invalid',
      `send exactly ${length} bytes with Content-Length: ${length} (got ${declared ?? 'none'})`,
    );
  const body = c.req.raw.body;
  if (!body) throw new FerryError('request.invalid', `the body is missing; send ${length} bytes`);
  return body;
}
