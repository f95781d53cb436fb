/** A signal that aborts when the caller's does, or after `ms`; `clear()` once the call is over. */
export interface Deadline {
  signal: AbortSignal;
  clear(): void;
}

/**
 * The caller's signal, or `ms` passing, whichever comes first. Not `AbortSignal.any([signal,
 * AbortSignal.timeout(ms)])`: on Node 20 a timeout signal inside `any()` is held only weakly, so
 * after a garbage collection it never fires (nodejs/node#57736) and a call on a dead connection
 * waits forever. Here the timer holds the controller, and the abort reason is a `TimeoutError` like
 * AbortSignal.timeout's.
 */
export function deadline(signal: AbortSignal | undefined, ms: number): Deadline {
  const ctrl = new AbortController();
  const onAbort = () => ctrl.abort(signal?.reason);
  const timer = setTimeout(
    () => ctrl.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')),
    ms,
  );
  // Like AbortSignal.timeout's: the call's own socket keeps the process alive while it matters.
  timer.unref();
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ctrl.signal,
    clear() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}
