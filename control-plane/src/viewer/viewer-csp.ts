/**
 * The Content-Security-Policy of everything under /viewer/: the console's (web/csp.ts), relaxed only
 * as far as the OHIF viewer needs, and still nothing from another origin.
 * - `'wasm-unsafe-eval'`: the image codecs (JPEG-LS, JPEG 2000, HTJ2K, JPEG lossless) are WebAssembly;
 *   this allows compiling it, not JavaScript eval.
 * - `worker-src blob:`: decoders and the volume loader run in workers, some of them made from blobs.
 * - `style-src 'unsafe-inline'`: React and the viewport layout set style attributes and inject style
 *   elements at run time (no script can come in that way).
 * - `img-src`/`media-src blob: data:`: thumbnails, icons and video frames are drawn from memory.
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
