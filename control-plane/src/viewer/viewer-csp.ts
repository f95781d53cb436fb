/**
 * The Content-Security-Policy of everything under /viewer/: the console's (web/csp.ts), relaxed only
 * as far as the OHIF viewer needs, and still nothing from another origin.
 * - `'wasm-unsafe-eval'`: the image codecs (JPEG-LS, JPEG 2000, HTJ2K, JPEG lossless) are WebAssembly;
 *   this allows compiling it, not JavaScript eval.
 * - `worker-src blob:`: decoders and the volume loader run in workers, some of them made from blobs.
 * - `style-src 'unsafe-inline'`: React and the viewport layout set style attributes and inject style
 *   elements at run time (no script can come in that way).
 * - `img-src`/`media-src blob: data:`: thumbnails, icons and video frames are drawn from memory.
 * No `'unsafe-eval'` here: only the worker scripts get it (VIEWER_WORKER_CONTENT_SECURITY_POLICY).
 */
export const VIEWER_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The policy of the viewer's worker scripts (a dedicated worker takes the CSP of its own script's
 * response, not the page's): the page's plus `'unsafe-eval'`, because the image codecs' Emscripten
 * glue (embind) names its functions with `new Function`, so JPEG-LS, JPEG 2000 and HTJ2K frames would
 * not decode without it. A worker has no DOM and the same `connect-src 'self'`; the page itself
 * still cannot evaluate strings.
 */
export const VIEWER_WORKER_CONTENT_SECURITY_POLICY = VIEWER_CONTENT_SECURITY_POLICY.replace(
  "script-src 'self' 'wasm-unsafe-eval'",
  "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
);
