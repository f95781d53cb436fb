/**
 * Worker thread that decodes compressed frames with the dcmjs-codecs WebAssembly (libjpeg-turbo,
 * CharLS, OpenJPEG, OpenJPH, RLE), so a heavy decode never holds the control plane's event loop.
 * Self-contained on purpose: no relative imports, only erasable TypeScript, so Node runs this file as
 * is (type stripping) under the test runner and as compiled JavaScript in dist/.
 */
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

interface CodecContext {
  getDecodedBuffer(): Uint8Array | undefined;
}
type DecodeFn = (context: CodecContext, parameters?: Record<string, unknown>) => CodecContext;
interface Codecs {
  Context: new (attrs: Record<string, unknown>) => CodecContext;
  NativeCodecs: Record<string, DecodeFn> & { initializeAsync(): Promise<void> };
}

/** Sent by frame-decoder.ts: the frames of one instance, all in one transfer syntax. */
export interface DecodeRequest {
  id: number;
  method: string;
  frames: Uint8Array[];
  context: Record<string, number | string>;
}
export type DecodeResponse =
  | { id: number; ok: true; frames: Uint8Array[] }
  | { id: number; ok: false; message: string };

const codecs = createRequire(import.meta.url)('dcmjs-codecs') as Codecs;
const ready = codecs.NativeCodecs.initializeAsync();
const port = parentPort;

function decode(req: DecodeRequest): DecodeResponse {
  const fn = codecs.NativeCodecs[req.method];
  if (typeof fn !== 'function') return { id: req.id, ok: false, message: `no decoder ${req.method}` };
  const out: Uint8Array[] = [];
  for (const encoded of req.frames) {
    const context = new codecs.Context({ ...req.context, encodedBuffer: encoded });
    // Components as stored (no YCbCr to RGB): a lossless transcode must not change sample values.
    const decoded = fn
      .call(codecs.NativeCodecs, context, { convertColorspaceToRgb: false })
      .getDecodedBuffer();
    if (!decoded) return { id: req.id, ok: false, message: 'the decoder returned no pixels' };
    // Copied out of the WebAssembly heap, which the next decode reuses.
    out.push(Uint8Array.from(decoded));
  }
  return { id: req.id, ok: true, frames: out };
}

port?.on('message', (req: DecodeRequest) => {
  ready
    .then(() => {
      let res: DecodeResponse;
      try {
        res = decode(req);
      } catch (err) {
        res = { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) };
      }
      port.postMessage(res, res.ok ? res.frames.map((f) => f.buffer as ArrayBuffer) : []);
    })
    .catch((err: unknown) =>
      port.postMessage({ id: req.id, ok: false, message: `codecs did not load: ${String(err)}` }),
    );
});
