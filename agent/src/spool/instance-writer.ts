import { createHash } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CompressedFrame,
  compressFrame,
  compressFrameSync,
  FerryError,
  type InstanceManifest,
  isFerryError,
  isNativeUncompressed,
  MAX_RAW_FRAME_BYTES,
  ObjectSealer,
} from '@ferry/shared';
import type { Logger } from 'pino';
import { releaseBuffers } from './buffer-release.js';
import type { ObjectCoding } from './compression-policy.js';
import { spoolIoError } from './fs-errors.js';
import { type HeaderFields, noteLenientCharset, readHeader } from './header-reader.js';
import type { BandCodec } from './image-codec-pool.js';
import {
  type FrameSource,
  type ImageCodingCounts,
  pumpImageFrames,
  type StreamBand,
} from './image-framing.js';
import type { IndexEntry, ObjectCodingRecord } from './index-entry.js';
import type { KeyEpochs } from './key-epochs.js';
import { newObjectId } from './object-id.js';
import { part10Header } from './part10.js';
import { objectPath, type SpoolPaths } from './paths.js';
import { planBands } from './pixel-bands.js';
import { SpillFile } from './spill-file.js';
import type { SpoolLog } from './spool-log.js';
import type { InstanceWriting, StoreRequest, StoreResult } from './store-contract.js';

/** Raw bytes per uncompressed data frame: the most one frame may hold. */
const FRAME_BYTES = MAX_RAW_FRAME_BYTES;
/**
 * Raw bytes per compressed frame. Smaller than FRAME_BYTES so that frames compress while the rest of
 * the instance arrives, several at once on the thread pool; the ratio is the same (CT: 1.17 at 64 KiB
 * to 1 MiB), and a CT slice is answered ~1 ms sooner than with one 525 KB frame compressed at the end.
 */
const ZSTD_FRAME_BYTES = 128 << 10;
/** Compressions in flight per object (the thread pool has four threads, the machine two cores). */
const MAX_COMPRESSING = 3;
/** Below this a compression costs less (~40 µs) than the hop to the thread pool and back (~90 µs). */
const SYNC_COMPRESS_BYTES = 32 << 10;
/** An object is compressed only if its first MiB shrinks at least this much (bench: CT 1.17). */
const MIN_COMPRESSION_RATIO = 1.1;
const HIGH_WATER = 8 << 20;
const LOW_WATER = 2 << 20;
const HEADER_FIRST_TRY = 64 << 10;
const HEADER_CAP = 4 << 20;
/** Objects up to this size are kept in memory and written inside their log record: one durable write. */
const INLINE_LIMIT = 1 << 20;

export interface WriterDeps {
  paths: SpoolPaths;
  spoolLog: SpoolLog;
  keys: KeyEpochs;
  log: Logger;
  /** Commits of objects not yet durable, so a concurrent duplicate can wait for its twin. */
  inflight: Map<string, Promise<void>>;
  /** The spool's choice for this object (compression-policy.ts), if the transfer syntax allows. */
  coding: ObjectCoding;
  /** Codes pixel bands for 'image' objects (image-codec-pool.ts). */
  codec?: BandCodec | undefined;
}

/**
 * Seals one received dataset as it arrives. A small object stays in memory and becomes durable
 * inside its log record; a large one spills to an encrypted `.part` file (spill-file.ts: page-cache
 * writes, fdatasynced in batches behind them and once more at the end) that is
 * renamed into objects/ before its log record (whose flush fsyncs the directory first).
 * Plaintext slices are queued and sealed frame by frame by one async pump, so writes stay in order
 * and the socket is paused whenever more than HIGH_WATER bytes wait.
 *
 * When the spool says so (compression-policy.ts: the uplink is the bottleneck), native uncompressed
 * datasets are compressed with zstd-1 before sealing (the agent cannot decrypt its spool later, so
 * this is decided at receipt): the first frame is compressed as a trial, and the object stays uncompressed when
 * that trial saves less than MIN_COMPRESSION_RATIO. The header names the choice, so nothing is
 * written before the first frame is in. Compression runs on the thread pool, beside the event loop.
 * The index entry's hash and size stay those of the raw Part-10 bytes.
 *
 * When the choice is 'image' and the native Pixel Data can be cut into bands (pixel-bands.ts), the
 * object is an image object instead (image-framing.ts): JPEG-LS bands, zstd around them.
 */
export class InstanceWriter implements InstanceWriting {
  private readonly id = newObjectId();
  private readonly hash = createHash('sha256');
  private readonly meta: Buffer;
  private readonly partPath: string;
  private readonly receivedAt = new Date().toISOString();
  private readonly compressible: boolean;
  /** The pump wakes once this many bytes wait: a compressed frame while compressing, else a raw one. */
  private frameBytes: number;
  private prefix: Buffer[] = [];
  private prefixBytes = 0;
  private nextHeaderTry = HEADER_FIRST_TRY;
  private header: HeaderFields | undefined;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private plainBytes = 0;
  private objectBytes = 0;
  private ended = false;
  private failure: FerryError | undefined;
  private aborted = false;
  private drainCb: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly pumpDone: Promise<void>;
  private file: SpillFile | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private spilled = false;
  /** Ends this instance's count in the log's choice of synchronous or thread-pool writes. */
  private readonly received: () => void;
  /** The Pixel Data bands of an image object, placed in the stream; undefined for any other. */
  private bands: StreamBand[] | undefined;
  private sealedAs: ObjectCoding = 'none';
  private imageCounts: ImageCodingCounts | undefined;

  constructor(
    private readonly req: StoreRequest,
    private readonly deps: WriterDeps,
  ) {
    this.partPath = join(deps.paths.tmp, `${this.id}.part`);
    this.meta = part10Header(req.sopClassUid, req.sopInstanceUid, req.transferSyntaxUid);
    // 'image' without a pixel plan is sealed as zstd.
    this.compressible = deps.coding !== 'none' && isNativeUncompressed(req.transferSyntaxUid);
    this.frameBytes = this.compressible ? ZSTD_FRAME_BYTES : FRAME_BYTES;
    this.received = deps.spoolLog.startReceiving();
    this.hash.update(this.meta);
    this.plainBytes = this.meta.length;
    this.pumpDone = this.pump().catch((err: unknown) => {
      this.fail(isFerryError(err) ? err : spoolIoError(err, 'storing an instance'));
      throw err;
    });
    // The pump's failure is reported through end(); never as an unhandled rejection.
    this.pumpDone.catch(() => undefined);
  }

  /**
   * Every slice is copied into a buffer of the writer's own, released as soon as it is sealed: the
   * caller may then release the socket chunk under the slice, and neither waits for a full GC.
   */
  readonly copiesSlices = true;

  write(slice: Buffer): boolean {
    if (this.failure || this.aborted) return true;
    this.hash.update(slice);
    this.plainBytes += slice.length;
    const own = Buffer.allocUnsafeSlow(slice.length);
    slice.copy(own);
    if (!this.header) {
      this.prefix.push(own);
      this.prefixBytes += own.length;
      if (this.prefixBytes >= this.nextHeaderTry) this.tryHeader(false);
    } else {
      this.enqueue(own);
    }
    return this.queuedBytes < HIGH_WATER;
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  async end(): Promise<StoreResult> {
    if (!this.header && !this.failure) this.tryHeader(true);
    this.ended = true;
    this.wake?.();
    try {
      await this.pumpDone;
      if (this.failure) throw this.failure;
      return await this.commit();
    } catch (err) {
      await this.discard();
      return this.outcomeOf(err);
    } finally {
      this.received();
    }
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.received();
    this.fail(new FerryError('dicom.pdu_malformed', 'association ended inside a dataset'));
    void this.pumpDone.finally(() => this.discard());
  }

  private tryHeader(final: boolean): void {
    const body = Buffer.concat(this.prefix);
    try {
      const parsed = readHeader(body, this.req.transferSyntaxUid, final, this.prefixBytes >= HEADER_CAP);
      if (parsed.state === 'need-more') {
        this.nextHeaderTry = this.prefixBytes + (256 << 10);
        return;
      }
      this.checkMatchesRequest(parsed.fields);
      this.header = parsed.fields;
      this.planImage(parsed.fields);
      if (parsed.fields.charset) noteLenientCharset(this.deps.log, parsed.fields.charset);
    } catch (err) {
      releaseBuffers(this.prefix);
      this.prefix = [];
      this.fail(
        isFerryError(err)
          ? err
          : new FerryError('dicom.dataset_unreadable', 'dataset header cannot be parsed', { cause: err }),
      );
      return;
    }
    releaseBuffers(this.prefix);
    this.prefix = [];
    this.enqueue(this.meta);
    this.enqueue(body);
    this.wake?.();
  }

  private planImage(h: HeaderFields): void {
    const px = h.pixels;
    if (this.deps.coding !== 'image' || !this.compressible || !px || !this.deps.codec) return;
    const plan = planBands(px);
    // Offsets in the Part-10 stream: the File Meta Information comes first.
    const at = this.meta.length + px.valueOffset;
    if (plan.ok) this.bands = plan.bands.map((b) => ({ ...b, start: at + b.offset }));
  }

  /** After a failure the rest of the dataset is read and dropped; a paused socket must resume. */
  private fail(err: FerryError): void {
    this.failure ??= err;
    this.queue = [];
    this.queuedBytes = 0;
    this.prefix = [];
    this.wake?.();
    const cb = this.drainCb;
    this.drainCb = undefined;
    cb?.();
  }

  private checkMatchesRequest(h: HeaderFields): void {
    if (!h.sopClassUid && !h.sopInstanceUid) {
      throw new FerryError('dicom.dataset_unreadable', 'dataset has no SOP Class UID or SOP Instance UID');
    }
    const problems: string[] = [];
    if (h.sopClassUid !== this.req.sopClassUid)
      problems.push(`SOP Class UID ${h.sopClassUid ?? '(missing)'} != ${this.req.sopClassUid}`);
    if (h.sopInstanceUid !== this.req.sopInstanceUid)
      problems.push(`SOP Instance UID differs from the request`);
    if (problems.length > 0)
      throw new FerryError(
        'dicom.dataset_mismatch',
        `dataset does not match request: ${problems.join('; ')}`,
      );
  }

  private enqueue(buf: Buffer): void {
    if (buf.length === 0) return;
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (this.queuedBytes >= this.frameBytes) this.wake?.();
  }

  /** A frame's worth of queued bytes is there, or the last of the object. */
  private get frameReady(): boolean {
    return this.queuedBytes >= this.frameBytes || (this.ended && this.queue.length > 0);
  }

  /** Up to `limit` bytes of queued slices; a slice that crosses the limit is cut there. */
  private takeFrame(limit = this.frameBytes): Buffer[] {
    const parts: Buffer[] = [];
    let n = 0;
    while (this.queue.length > 0 && n < limit) {
      let b = this.queue.shift()!;
      if (n + b.length > limit) {
        this.queue.unshift(b.subarray(limit - n));
        b = b.subarray(0, limit - n);
      }
      parts.push(b);
      n += b.length;
    }
    this.queuedBytes -= n;
    if (this.drainCb && this.queuedBytes <= LOW_WATER) {
      const cb = this.drainCb;
      this.drainCb = undefined;
      cb();
    }
    return parts;
  }

  private async pump(): Promise<void> {
    const { key, wrappedKey } = await this.deps.keys.objectKey(this.id);
    // The manifest is the first frame: wait for the DICOM header.
    while (!this.header && !this.failure && !this.aborted) await this.sleep();
    if (this.failure || this.aborted || !this.header) return;
    if (this.bands && this.deps.codec) {
      const sealer = this.sealer('image', key, wrappedKey);
      await this.writeOut([sealer.headerBytes, ...sealer.sealManifest(this.manifest(this.header))]);
      this.sealedAs = 'image';
      this.imageCounts = await pumpImageFrames(
        this.frameSource(),
        sealer,
        this.bands,
        this.deps.codec,
        ZSTD_FRAME_BYTES,
      );
      return;
    }
    // The header names the compression, so a compressible object is decided on its first MiB,
    // compressed frame by frame as it arrives; nothing is written before.
    const trial = this.compressible ? await this.trialCompress() : undefined;
    if (this.failure || this.aborted) return;
    const zstd = trial !== undefined && trial.zstdBytes * MIN_COMPRESSION_RATIO <= trial.rawBytes;
    const sealer = this.sealer(zstd ? 'zstd' : 'none', key, wrappedKey);
    this.sealedAs = zstd ? 'zstd' : 'none';
    await this.writeOut([sealer.headerBytes, ...sealer.sealManifest(this.manifest(this.header))]);
    if (trial && zstd) {
      // Every trial compression has finished reading them.
      releaseBuffers(trial.parts);
      for (const [i, frame] of trial.frames.entries()) {
        const final = i === trial.frames.length - 1 && this.ended && this.queue.length === 0;
        const sealed = sealer.sealCompressed(frame, final);
        releaseBuffers([frame.zstd]);
        await this.writeOut(sealed);
        if (final) return;
      }
      return this.pumpCompressed(sealer);
    }
    this.frameBytes = FRAME_BYTES;
    if (trial) {
      // Not worth it: the trial's raw bytes (at most 1 MiB) become the first raw frame.
      const final = this.ended && this.queue.length === 0;
      const sealed = sealer.sealData(trial.parts, final);
      releaseBuffers(trial.parts);
      await this.writeOut(sealed);
      if (final) return;
    }
    for (;;) {
      if (this.failure || this.aborted) return;
      if (this.frameReady) {
        const parts = this.takeFrame();
        const final = this.ended && this.queue.length === 0;
        const sealed = sealer.sealData(parts, final);
        releaseBuffers(parts);
        await this.writeOut(sealed);
        if (final) return;
      } else if (this.ended) {
        await this.writeOut(sealer.sealData([], true));
        return;
      } else {
        await this.sleep();
      }
    }
  }

  private sealer(compression: ObjectCoding, key: Buffer, wrappedKey: string): ObjectSealer {
    return new ObjectSealer(
      {
        v: 1,
        objectId: this.id,
        enc: 'A256GCM',
        kdf: 'HKDF-SHA256',
        wrappedKey,
        compression,
        contentType: 'application/dicom',
        createdAt: this.receivedAt,
      },
      key,
    );
  }

  /** The writer's queue and output as image framing reads and writes them. */
  private frameSource(): FrameSource {
    return {
      queued: () => this.queuedBytes,
      ended: () => this.ended,
      stopped: () => this.failure !== undefined || this.aborted,
      take: (limit) => this.takeFrame(limit),
      waitFor: (bytes) => {
        this.frameBytes = bytes;
        return this.sleep();
      },
      compress: (parts) => this.compress(parts),
      writeOut: (buffers) => this.writeOut(buffers),
    };
  }

  /** How the object was coded, for the index entry and the spool's per-modality counts. */
  private codingRecord(): ObjectCodingRecord {
    return { kind: this.sealedAs, ...this.imageCounts };
  }

  /** Starts compressing one frame; small ones at once on this thread, the rest on the thread pool. */
  private compress(parts: Buffer[]): Promise<CompressedFrame> {
    const raw = parts.reduce((n, p) => n + p.length, 0);
    let p: Promise<CompressedFrame>;
    try {
      p = raw < SYNC_COMPRESS_BYTES ? Promise.resolve(compressFrameSync(parts)) : compressFrame(parts);
    } catch (err) {
      p = Promise.reject(err);
    }
    // Awaited in order later; a failure meanwhile must not surface as an unhandled rejection.
    p.catch(() => undefined);
    return p;
  }

  /**
   * Compresses the first MiB (or the whole object, if smaller) in ZSTD_FRAME_BYTES frames, each
   * started as soon as its bytes are in. Keeps the raw parts too, in case it does not pay.
   */
  private async trialCompress(): Promise<
    { frames: CompressedFrame[]; parts: Buffer[]; rawBytes: number; zstdBytes: number } | undefined
  > {
    const pending: Promise<CompressedFrame>[] = [];
    const parts: Buffer[] = [];
    let rawBytes = 0;
    while (rawBytes < FRAME_BYTES && !this.failure && !this.aborted) {
      if (this.frameReady) {
        const frame = this.takeFrame(Math.min(ZSTD_FRAME_BYTES, FRAME_BYTES - rawBytes));
        for (const b of frame) rawBytes += b.length;
        parts.push(...frame);
        pending.push(this.compress(frame));
      } else if (this.ended) {
        break;
      } else {
        await this.sleep();
      }
    }
    const frames = await Promise.all(pending);
    if (rawBytes === 0) return undefined;
    return { frames, parts, rawBytes, zstdBytes: frames.reduce((n, f) => n + f.zstd.length, 0) };
  }

  /** The rest of a compressed object: up to MAX_COMPRESSING frames compress while one is written. */
  private async pumpCompressed(sealer: ObjectSealer): Promise<void> {
    const compressing: Promise<CompressedFrame>[] = [];
    for (;;) {
      if (this.failure || this.aborted) return;
      while (compressing.length < MAX_COMPRESSING && this.frameReady) {
        const parts = this.takeFrame();
        const compressed = this.compress(parts);
        // Only once the thread pool has read them; a failed compression leaves them to the GC.
        void compressed.then(
          () => releaseBuffers(parts),
          () => undefined,
        );
        compressing.push(compressed);
      }
      const next = compressing.shift();
      if (next) {
        const frame = await next;
        if (this.failure || this.aborted) return;
        // Decided after compressing: end() may have come meanwhile, and this is then the last frame.
        const final = compressing.length === 0 && this.ended && this.queue.length === 0;
        const sealed = sealer.sealCompressed(frame, final);
        releaseBuffers([frame.zstd]);
        await this.writeOut(sealed);
        if (final) return;
      } else if (this.ended) {
        await this.writeOut(sealer.sealData([], true));
        return;
      } else {
        await this.sleep();
      }
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
      if (this.ended || this.failure || this.aborted || (this.header && this.queuedBytes >= this.frameBytes))
        this.wake();
    });
  }

  private async writeOut(buffers: Buffer[]): Promise<void> {
    const size = buffers.reduce((n, b) => n + b.length, 0);
    this.objectBytes += size;
    if (!this.file && this.heldBytes + size <= INLINE_LIMIT) {
      this.held.push(...buffers);
      this.heldBytes += size;
      return;
    }
    if (!this.file) {
      this.spilled = true;
      this.file = await SpillFile.create(this.partPath);
      buffers = [...this.held, ...buffers];
      this.held = [];
    }
    await this.file.write(buffers);
  }

  private manifest(h: HeaderFields): InstanceManifest {
    return {
      objectId: this.id,
      receivedAt: this.receivedAt,
      callingAeTitle: this.req.callingAeTitle,
      calledAeTitle: this.req.calledAeTitle,
      transferSyntaxUid: this.req.transferSyntaxUid,
      sopClassUid: this.req.sopClassUid,
      sopInstanceUid: this.req.sopInstanceUid,
      patient: h.patient,
      study: h.study,
      series: h.series,
      numberOfFrames: h.numberOfFrames,
    };
  }

  private async commit(): Promise<StoreResult> {
    const file = this.file;
    if (file) {
      this.file = undefined;
      await file.finish();
    }
    const sha256 = this.hash.digest('hex');
    const { spoolLog, inflight } = this.deps;
    const versions = spoolLog.versionsOf(this.req.sopInstanceUid);
    const twin = versions.find((v) => v.sha256 === sha256);
    if (twin) {
      await inflight.get(twin.id);
      await this.discard();
      return {
        ok: true,
        objectId: twin.id,
        duplicate: true,
        version: twin.version,
        plainBytes: this.plainBytes,
      };
    }
    const entry: IndexEntry = {
      id: this.id,
      sopInstanceUid: this.req.sopInstanceUid,
      sopClassUid: this.req.sopClassUid,
      studyInstanceUid: this.header?.study.instanceUid,
      seriesInstanceUid: this.header?.series.instanceUid,
      transferSyntaxUid: this.req.transferSyntaxUid,
      callingAeTitle: this.req.callingAeTitle,
      receivedAt: this.receivedAt,
      plainBytes: this.plainBytes,
      sha256,
      objectBytes: this.objectBytes,
      version: versions.reduce((max, v) => Math.max(max, v.version), 0) + 1,
      state: 'spooled',
      inline: !file,
      modality: this.header?.series.modality,
      coding: this.codingRecord(),
    };
    const finalPath = objectPath(this.deps.paths, this.id);
    let renamed = false;
    const committed = file
      ? spoolLog.put(entry, {
          prepare: async () => {
            try {
              await rename(this.partPath, finalPath);
              renamed = true;
            } catch (err) {
              throw spoolIoError(err, 'renaming a spool object');
            }
          },
        })
      : spoolLog.put(entry, { inline: this.held });
    inflight.set(this.id, committed);
    try {
      await committed;
    } catch (err) {
      if (renamed) await unlink(finalPath).catch(() => undefined);
      throw err;
    } finally {
      inflight.delete(this.id);
      // The log wrote them (or failed to): nothing reads an inline object's sealed frames again.
      releaseBuffers(this.held);
      this.held = [];
    }
    return { ok: true, objectId: this.id, version: entry.version, plainBytes: this.plainBytes };
  }

  private async discard(): Promise<void> {
    releaseBuffers(this.held);
    this.held = [];
    const file = this.file;
    this.file = undefined;
    await file?.discard();
    if (this.spilled) await unlink(this.partPath).catch(() => undefined);
  }

  private outcomeOf(err: unknown): StoreResult {
    const e = isFerryError(err) ? err : spoolIoError(err, 'storing an instance');
    if (!isFerryError(err)) this.deps.log.error({ err, objectId: this.id }, 'unexpected spool failure');
    return { ok: false, code: e.code, message: e.message };
  }
}
