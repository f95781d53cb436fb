/**
 * The worker threads that code pixel bands with JPEG-LS (image-codec-worker.ts) for image objects.
 * A 512×512 16-bit slice takes ~15 ms to encode and verify: on the event loop it would hold every
 * association's C-STORE, so it runs beside it. Workers start on first use, or ahead of it (warm) once
 * the spool knows it will code images: starting one takes ~0.4 s. The pool never fails a
 * band: a full queue, a dead or stuck worker, or a band CharLS cannot code exactly all answer
 * "no frame", and the writer seals that band as zstd. No instance is lost to the codec.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bandBytes, type PixelBand } from '@ferry/shared';
import type { Logger } from 'pino';
import type { ImageCodecReply, ImageCodecRequest, ImageWorkerData } from './image-codec-worker.js';

/** What coding one band gave: the JPEG-LS frame, or undefined (seal zstd), and the codec's time. */
export interface BandCoding {
  frame: Buffer | undefined;
  ms: number;
}

/** What the writer needs of a pool; tests hand it pools that refuse, to drive the fallback path. */
export interface BandCodec {
  /**
   * Codes `raw` (one band, a buffer of its own: it is transferred, and empty afterwards). Never
   * rejects: an undefined frame means the band goes as zstd.
   */
  encode(raw: Buffer, band: PixelBand): Promise<BandCoding>;
}

export interface ImageCodecPoolOptions {
  /** Worker threads; default min(2, cores). */
  size?: number;
  /** Bands waiting for a worker beyond which a new one goes as zstd at once. */
  maxQueued?: number;
  /** A band still coding after this is taken for a stuck worker, which is replaced. */
  jobTimeoutMs?: number;
  /** Where the worker module is (tests start others); default beside this module. */
  workerUrl?: URL;
  wasmPath?: string;
  log?: Logger;
}

/** A release bundle (.mjs) ships the worker and CharLS's .wasm beside itself (scripts/bundle.mjs). */
const BUNDLED = import.meta.url.endsWith('.mjs');
export const CHARLS_WASM_FILE = 'charlswasm.wasm';
// Under the build the worker is the compiled .js; in tests Node runs the .ts source itself.
const WORKER_URL = new URL(
  `./image-codec-worker.${BUNDLED ? 'mjs' : import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`,
  import.meta.url,
);

function defaultWasmPath(): string {
  const beside = fileURLToPath(new URL(`./${CHARLS_WASM_FILE}`, import.meta.url));
  if (BUNDLED || existsSync(beside)) return beside;
  return createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm');
}

/** After this many worker deaths the pool stops starting workers: every band goes as zstd. */
const MAX_CRASHES = 5;
/** Weight of the newest band in the throughput average. */
const RATE_WEIGHT = 0.2;

interface Job {
  id: number;
  raw: Buffer;
  band: PixelBand;
  resolve: (r: BandCoding) => void;
}

interface Slot {
  worker: Worker;
  busy: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

const NO_FRAME: BandCoding = { frame: undefined, ms: 0 };

export class ImageCodecPool implements BandCodec {
  private readonly size: number;
  private readonly maxQueued: number;
  private readonly jobTimeoutMs: number;
  private readonly workerUrl: URL;
  private readonly wasmPath: string;
  private readonly queue: Job[] = [];
  private readonly slots = new Set<Slot>();
  private nextId = 1;
  private crashes = 0;
  private closed = false;
  /** Raw bytes per second of one worker's codec time, averaged over recent bands. */
  private rate: number | undefined;

  constructor(private readonly opts: ImageCodecPoolOptions = {}) {
    this.size = Math.max(1, opts.size ?? Math.min(2, availableParallelism()));
    this.maxQueued = opts.maxQueued ?? 16;
    this.jobTimeoutMs = opts.jobTimeoutMs ?? 30_000;
    this.workerUrl = opts.workerUrl ?? WORKER_URL;
    this.wasmPath = opts.wasmPath ?? defaultWasmPath();
  }

  encode(raw: Buffer, band: PixelBand): Promise<BandCoding> {
    if (this.closed || this.crashes >= MAX_CRASHES || this.queue.length >= this.maxQueued)
      return Promise.resolve(NO_FRAME);
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, raw, band, resolve });
      this.pump();
    });
  }

  /**
   * Starts every worker not running yet, so the first band does not wait for one to load CharLS.
   * Idle workers do not keep the process alive.
   */
  warm(): void {
    while (!this.closed && this.slots.size < this.size && this.crashes < MAX_CRASHES) {
      try {
        this.start();
      } catch (err) {
        this.noteCrash(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** Workers running (started, whether or not CharLS has loaded yet). */
  get workers(): number {
    return this.slots.size;
  }

  /**
   * Raw bytes per second one worker codes, from recent bands' codec time; undefined before the
   * first band. The auto policy weighs it against the uplink: an instance's C-STORE waits for its
   * last bands, which one worker codes (two, for a frame cut in two), so this bounds intake.
   */
  workerBytesPerSecond(): number | undefined {
    return this.rate;
  }

  /** Stops every worker; bands waiting or coding go as zstd. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve(NO_FRAME);
    const stopping: Promise<number>[] = [];
    for (const slot of [...this.slots]) stopping.push(this.drop(slot));
    await Promise.all(stopping);
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.busy) this.assign(slot, this.queue.shift()!);
    }
    while (this.queue.length > 0 && this.slots.size < this.size && this.crashes < MAX_CRASHES) {
      let slot: Slot;
      try {
        slot = this.start();
      } catch (err) {
        // No worker at all (its module is missing): the band waiting for it goes as zstd.
        this.noteCrash(err instanceof Error ? err : new Error(String(err)));
        this.queue.shift()!.resolve(NO_FRAME);
        continue;
      }
      this.assign(slot, this.queue.shift()!);
    }
    if (this.crashes >= MAX_CRASHES) for (const job of this.queue.splice(0)) job.resolve(NO_FRAME);
  }

  private start(): Slot {
    const worker = new Worker(this.workerUrl, {
      workerData: { wasmPath: this.wasmPath } satisfies ImageWorkerData,
    });
    // Idle, it must not keep the process alive; it is ref'd while it codes.
    worker.unref();
    const slot: Slot = { worker, busy: undefined, timer: undefined };
    worker.on('message', (reply: ImageCodecReply) => this.finished(slot, reply));
    worker.on('error', (err) => this.crashed(slot, err));
    worker.on('exit', (code) =>
      this.crashed(slot, new Error(`the image codec worker exited (code ${code})`)),
    );
    this.slots.add(slot);
    return slot;
  }

  private assign(slot: Slot, job: Job): void {
    slot.busy = job;
    slot.worker.ref();
    slot.timer = setTimeout(
      () => this.crashed(slot, new Error(`a band took longer than ${this.jobTimeoutMs} ms`)),
      this.jobTimeoutMs,
    );
    slot.timer.unref();
    // Transferring a view of a larger buffer would take all of it from its owner: copy that one.
    const whole = job.raw.byteOffset === 0 && job.raw.byteLength === job.raw.buffer.byteLength;
    const raw = whole
      ? new Uint8Array(job.raw.buffer, job.raw.byteOffset, job.raw.byteLength)
      : Uint8Array.from(job.raw);
    slot.worker.postMessage({ id: job.id, raw, band: job.band } satisfies ImageCodecRequest, [
      raw.buffer as ArrayBuffer,
    ]);
  }

  private finished(slot: Slot, reply: ImageCodecReply): void {
    const job = slot.busy;
    if (!job || job.id !== reply.id) return;
    clearTimeout(slot.timer);
    slot.busy = undefined;
    slot.worker.unref();
    if (reply.ms > 0) {
      const rate = (bandBytes(job.band) * 1000) / reply.ms;
      this.rate = this.rate === undefined ? rate : this.rate + RATE_WEIGHT * (rate - this.rate);
    }
    const f = reply.frame;
    job.resolve({ frame: f ? Buffer.from(f.buffer, f.byteOffset, f.byteLength) : undefined, ms: reply.ms });
    this.pump();
  }

  /** A worker died or hung: its band goes as zstd, and the next band starts a new worker. */
  private crashed(slot: Slot, err: Error): void {
    if (!this.slots.has(slot)) return;
    if (!this.closed) this.noteCrash(err);
    void this.drop(slot);
    this.pump();
  }

  private noteCrash(err: Error): void {
    this.crashes++;
    this.opts.log?.warn(
      { event: 'spool.image_codec_worker_failed', err: err.message, crashes: this.crashes },
      this.crashes >= MAX_CRASHES
        ? 'image codec workers keep failing: pixel data goes as zstd from now on'
        : 'an image codec worker failed: its band goes as zstd',
    );
  }

  private drop(slot: Slot): Promise<number> {
    this.slots.delete(slot);
    clearTimeout(slot.timer);
    slot.busy?.resolve(NO_FRAME);
    slot.busy = undefined;
    slot.worker.removeAllListeners('message');
    slot.worker.removeAllListeners('exit');
    // An 'error' after this must not be unhandled.
    slot.worker.removeAllListeners('error');
    slot.worker.on('error', () => undefined);
    return slot.worker.terminate();
  }
}
