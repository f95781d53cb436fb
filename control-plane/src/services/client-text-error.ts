import { FerryError } from '@ferry/shared';
import { isUnstorableText } from '../db/errors.js';

/**
 * The typed error for failures that are the client's doing but surface below the routes: text with a
 * NUL byte passes every zod string schema and is refused only by PostgreSQL (query, body or path alike).
 */
export function asClientError(err: unknown): unknown {
  if (err instanceof FerryError || !isUnstorableText(err)) return err;
  return new FerryError(
    'request.invalid',
    'a value contains a character that cannot be stored or searched (such as NUL); remove it',
    { cause: err },
  );
}
