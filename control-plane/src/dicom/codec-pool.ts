/**
 * The worker threads that hold the WASM codecs (codec-worker.ts), for both their uses: rendering a
 * frame (/rendered, /thumbnail) and decoding an instance's frames (transcoding). Decoding a JPEG 2000
 * CT slice takes ~60 ms of CPU, which on the request thread would stall every other request (a
 * worklist asks for dozens of thumbnails at once). Jobs queue in order; workers start on demand, stop
 * after ten quiet minutes, and a worker that dies or hangs fails its own job only and is replaced.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FerryError } from '@ferry/shared';
import {
  CODEC_WORKER_ROLE,
  type CodecJob,
  type CodecReply,
  type CodecRequest,
  type DecodedFrames,
  type DecodeJob,
  type RenderedPixels,
  type RenderPixelsJob,
} from './codec-worker.js';

export type { DecodeJob } from './codec-worker.js';

/** One core stays with the event loop (and sharp's encoder threads); a 2-core host gets one worker. */
const POOL_SIZE = Math.max(1, Math.min(4, availableParallelism() - 1));
// A cold worker loads the WASM codec modules (~1 s on a busy host): keep it through a reading session.
const IDLE_MS = 10 * 60_000;
/**
 * A job still running after this is taken for a codec stuck on bad input: its worker is replaced. A
 * decode job holds a whole instance's frames, so it gets longer than one rendered frame.
 */
const JOB_TIMEOUT_MS: Record<CodecJob['kind'], number> = { render: 30_000, decode: 60_000 };

// Under the build the worker is the compiled .js; in tests Node runs the .ts source itself.
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './codec-worker.ts' : './codec-worker.js',
  import.meta.url,
);

interface Pending {
  id: number;
  job: CodecJob;
  transfer: ArrayBuffer[];
  resolve: (r: RenderedPixels | DecodedFrames) => void;
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
  const worker = new Worker(WORKER_URL, { workerData: CODEC_WORKER_ROLE });
  // Idle, it must not keep the process alive (tests, a stopping server); it is ref'd while it works.
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
  worker.on('message', (reply: CodecReply) => {
    const job = slot.busy;
    if (!job || job.id !== reply.id) return;
    slot.busy = undefined;
    clearTimeout(slot.timer);
    job.resolve(reply.result);
    pump();
  });
  worker.on('error', (err) => fail(err));
  worker.on('exit', (code) => fail(new Error(`the codec worker exited (code ${code})`)));
  slots.add(slot);
  return slot;
}

function assign(slot: Slot, job: Pending): void {
  slot.busy = job;
  slot.worker.ref();
  clearTimeout(slot.timer);
  const timeoutMs = JOB_TIMEOUT_MS[job.job.kind];
  slot.timer = setTimeout(() => {
    slots.delete(slot);
    job.resolve({ ok: false, message: `decoding took longer than ${timeoutMs / 1000} s` });
    slot.busy = undefined;
    slot.worker.removeAllListeners('exit');
    void slot.worker.terminate();
    pump();
  }, timeoutMs);
  slot.timer.unref();
  slot.worker.postMessage({ id: job.id, job: job.job } satisfies CodecRequest, job.transfer);
}

function idle(slot: Slot): void {
  slot.worker.unref();
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

function submit(job: CodecJob, transfer: ArrayBuffer[]): Promise<RenderedPixels | DecodedFrames> {
  return new Promise((resolve, reject) => {
    queue.push({ id: nextId++, job, transfer, resolve, reject });
    pump();
  });
}

/**
 * A standalone copy of a frame, to be transferred: posting a view into a whole instance (or a cached
 * frame shared with other requests) would copy, or detach, all of its buffer.
 */
function standalone(frame: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(frame);
}

/**
 * Starts a worker now, so that its codecs are loaded before the first image is asked for (the real
 * server calls it at start; an in-process test app does not).
 */
export function warmCodecPool(): void {
  if (slots.size === 0) idle(startSlot());
}

/** renderPixels on a worker thread. Rejects only when a worker fails (not for an undecodable frame). */
export async function renderPixelsInWorker(job: RenderPixelsJob): Promise<RenderedPixels> {
  const frame = standalone(job.frame);
  return (await submit({ kind: 'render', job: { ...job, frame } }, [frame.buffer])) as RenderedPixels;
}

/** The decoded (native) bytes of each frame, in order. Throws dicomweb.cannot_decode. */
export async function decodeFrames(job: DecodeJob): Promise<Uint8Array[]> {
  const frames = job.frames.map(standalone);
  let result: DecodedFrames;
  try {
    result = (await submit(
      { kind: 'decode', job: { ...job, frames } },
      frames.map((f) => f.buffer),
    )) as DecodedFrames;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new FerryError('dicomweb.cannot_decode', `the frame decoder stopped: ${why}`);
  }
  if (!result.ok) {
    throw new FerryError('dicomweb.cannot_decode', `the pixel data could not be decoded: ${result.message}`);
  }
  return result.frames;
}
