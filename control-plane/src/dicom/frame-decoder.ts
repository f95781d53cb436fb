/**
 * Decodes compressed frames off the event loop: one long-lived worker thread (frame-decoder-worker.ts)
 * holds the codecs' WebAssembly and takes one instance's frames per message, in order. One worker is
 * enough on the small hosts Ferry targets and bounds the memory decoding can take at any moment.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FerryError } from '@ferry/shared';
import type { DecodeRequest, DecodeResponse } from './frame-decoder-worker.js';

export interface DecodeJob {
  /** The NativeCodecs method, e.g. `decodeJpegLs`. */
  method: string;
  /** One compressed bitstream per frame. */
  frames: Uint8Array[];
  /** The codec Context attributes: width, height, bitsAllocated, bitsStored, samplesPerPixel, … */
  context: Record<string, number | string>;
}

// Under the test runner this module is the .ts source and the worker runs as .ts too (Node strips the
// types); built, both are .js in dist/.
const WORKER_URL = new URL(
  `./frame-decoder-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/** An instance still decoding after this is taken for a codec stuck on bad input: the worker is replaced. */
const JOB_TIMEOUT_MS = 60_000;

interface Pending {
  resolve: (frames: Uint8Array[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

let worker: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 1;

function failAll(err: Error): void {
  for (const p of pending.values()) {
    clearTimeout(p.timer);
    p.reject(err);
  }
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_URL);
  // Idle, it must not keep the process alive (tests, a stopping server).
  w.unref();
  w.on('message', (res: DecodeResponse) => {
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    clearTimeout(p.timer);
    if (pending.size === 0) w.unref();
    if (res.ok) p.resolve(res.frames);
    else
      p.reject(
        new FerryError('dicomweb.cannot_decode', `the pixel data could not be decoded: ${res.message}`),
      );
  });
  const lost = (why: string) => {
    if (worker === w) worker = undefined;
    failAll(new FerryError('dicomweb.cannot_decode', `the frame decoder stopped: ${why}`));
  };
  w.on('error', (err) => lost(err.message));
  w.on('exit', (code) => lost(`exit code ${code}`));
  worker = w;
  return w;
}

/** The decoded (native) bytes of each frame, in order. Throws dicomweb.cannot_decode. */
export function decodeFrames(job: DecodeJob): Promise<Uint8Array[]> {
  const w = getWorker();
  const id = nextId++;
  // Standalone copies: a view into the whole instance would copy (or, transferred, detach) all of it.
  const frames = job.frames.map((f) => Uint8Array.from(f));
  const req: DecodeRequest = { id, method: job.method, frames, context: job.context };
  return new Promise<Uint8Array[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Every job queued on that worker fails with it ('exit' rejects them); the next call starts a new one.
      void w.terminate();
    }, JOB_TIMEOUT_MS);
    timer.unref();
    pending.set(id, { resolve, reject, timer });
    w.ref();
    w.postMessage(
      req,
      frames.map((f) => f.buffer as ArrayBuffer),
    );
  });
}
