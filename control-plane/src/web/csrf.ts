import { createHmac, timingSafeEqual } from 'node:crypto';
import { FerryError } from '@ferry/shared';

/**
 * Synchronizer tokens for console forms, derived from the session cookie: HMAC(secret, session).
 * Nothing to store, every replica computes the same token, and it changes with every new session.
 */
export function csrfTokenFor(secret: Uint8Array, session: string): string {
  return createHmac('sha256', secret).update(`csrf:${session}`).digest('base64url');
}

export function checkCsrf(secret: Uint8Array, session: string, presented: unknown): void {
  const want = Buffer.from(csrfTokenFor(secret, session));
  const got = Buffer.from(typeof presented === 'string' ? presented : '');
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new FerryError(
      'auth.forbidden',
      'this form has expired or did not come from this console; reload the page and try again',
    );
}
