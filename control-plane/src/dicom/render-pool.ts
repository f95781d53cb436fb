/**
 * A few worker threads for renderPixels: decoding a JPEG 2000 CT slice takes ~60 ms of CPU, which on
 * the request thread would stall every other request (a worklist asks for dozens of thumbnails at
 * once). Jobs queue in order; workers start on demand, stop after ten quiet minutes, and a worker that
 * dies or hangs fails its job and is replaced.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  RENDER_WORKER_ROLE,
  type RenderedPixels,
  type RenderPixelsJob,
  type RenderReply,
  type RenderRequest,
} from './render-pixels.js';

/** One core stays with the event loop (and sharp's encoder threads). */
const POOL_SIZE = Math.max(1, Math.min(4, availableParallelism() - 1));
// A cold worker loads two WASM codec modules (~1 s on a busy host): keep it through a reading session.
const IDLE_MS = 10 * 60_000;
/** A frame still decoding after this is taken for a codec stuck on bad input. */
const JOB_TIMEOUT_MS = 30_000;

// Under the build the worker is the compiled .js; in tests Node runs the .ts source itself.
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './render-pixels.ts' : './render-pixels.js',
  import.meta.url,
);

interface Pending {
  id: number;
  job: RenderPixelsJob;
  resolve: (r: RenderedPixels) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
  timer: NodeJS.Timeout | undefined;
}

const queue: Pending[] = [];
const slots = new Set<Slot>();
let nextId = 1;

function startSlot(): Slot {
  const worker = new Worker(WORKER_URL, { workerData: RENDER_WORKER_ROLE });
  worker.unref();
  const slot: Slot = { worker, busy: undefined, timer: undefined };
  const fail = (err: Error) => {
    slots.delete(slot);
    clearTimeout(slot.timer);
    slot.busy?.reject(err);
    slot.busy = undefined;
    void worker.terminate();
    pump();
  };
  worker.on('message', (reply: RenderReply) => {
    const job = slot.busy;
    if (!job || job.id !== reply.id) return;
    slot.busy = undefined;
    clearTimeout(slot.timer);
    job.resolve(reply.result);
    pump();
  });
  worker.on('error', (err) => fail(err));
  worker.on('exit', (code) => fail(new Error(`render worker exited (code ${code})`)));
  slots.add(slot);
  return slot;
}

function assign(slot: Slot, job: Pending): void {
  slot.busy = job;
  clearTimeout(slot.timer);
  slot.timer = setTimeout(() => {
    slots.delete(slot);
    job.resolve({ ok: false, message: `decoding took longer than ${JOB_TIMEOUT_MS / 1000} s` });
    slot.busy = undefined;
    void slot.worker.terminate();
    pump();
  }, JOB_TIMEOUT_MS);
  slot.timer.unref();
  // The frame is copied into the message (the caller's buffer may be shared, e.g. a cached frame).
  slot.worker.postMessage({ id: job.id, job: job.job } satisfies RenderRequest);
}

function idle(slot: Slot): void {
  clearTimeout(slot.timer);
  slot.timer = setTimeout(() => {
    if (slot.busy) return;
    slots.delete(slot);
    slot.worker.removeAllListeners('exit');
    void slot.worker.terminate();
  }, IDLE_MS);
  slot.timer.unref();
}

function pump(): void {
  for (const slot of slots) {
    if (queue.length === 0) break;
    if (!slot.busy) assign(slot, queue.shift()!);
  }
  while (queue.length > 0 && slots.size < POOL_SIZE) assign(startSlot(), queue.shift()!);
  for (const slot of slots) if (!slot.busy) idle(slot);
}

/** renderPixels on a worker thread. Rejects only when a worker fails (not for an undecodable frame). */
export function renderPixelsInWorker(job: RenderPixelsJob): Promise<RenderedPixels> {
  return new Promise((resolve, reject) => {
    queue.push({ id: nextId++, job, resolve, reject });
    pump();
  });
}
