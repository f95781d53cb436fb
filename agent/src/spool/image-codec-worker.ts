/**
 * A JPEG-LS worker thread (run by image-codec-pool.ts): codes one band of native pixel rows at a
 * time with CharLS, decodes the result once and compares it (encodeJpegLsVerified), and answers with
 * the frame, or nothing when the band must go as zstd. Node runs this file as it is in tests (type
 * stripping), so it imports packages and builtins only, and uses only erasable TypeScript.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { encodeJpegLsVerified, loadJpegLs, type PixelBand, provideJpegLsWasm } from '@ferry/shared';

/** What the pool gives a worker when it starts it. */
export interface ImageWorkerData {
  /** CharLS's .wasm (the npm package's, or the copy beside the release bundle). */
  wasmPath: string;
}

export interface ImageCodecRequest {
  id: number;
  /** The band's raw bytes, transferred: the worker owns them. */
  raw: Uint8Array;
  band: PixelBand;
}

export interface ImageCodecReply {
  id: number;
  /** The JPEG-LS data frame (header and bitstream), transferred; absent when the band goes as zstd. */
  frame?: Uint8Array | undefined;
  /** CharLS's encode, decode and compare time. */
  ms: number;
}

const { wasmPath } = workerData as ImageWorkerData;
provideJpegLsWasm(() => readFile(wasmPath));
const port = parentPort;
if (!port) throw new Error('image-codec-worker runs as a worker thread');

port.on('message', (req: ImageCodecRequest) => {
  void code(req).then((reply) =>
    port.postMessage(reply, reply.frame ? [reply.frame.buffer as ArrayBuffer] : []),
  );
});

async function code(req: ImageCodecRequest): Promise<ImageCodecReply> {
  try {
    await loadJpegLs();
  } catch {
    // No codec in this thread (its .wasm is missing or broken): every band goes as zstd.
    return { id: req.id, ms: 0 };
  }
  const started = performance.now();
  const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  const frame = encodeJpegLsVerified(raw, req.band);
  const ms = performance.now() - started;
  if (!frame) return { id: req.id, ms };
  // Transferred as it is when it owns its memory; a small one may be a slice of Node's pool.
  const whole = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength;
  return { id: req.id, frame: whole ? frame : Uint8Array.from(frame), ms };
}
