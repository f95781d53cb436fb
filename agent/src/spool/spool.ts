import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { FerryError, PRIVATE_DIR_MODE } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { fsyncDir } from '../data-dir.js';
import { CompressionChoice, type CompressionStatus } from './compression-choice.js';
import type { CompressionMode } from './compression-policy.js';
import type { ShippingState, SpoolConsumer } from './consumer.js';
import { sealedReadError, spoolIoError } from './fs-errors.js';
import { type BandCodec, ImageCodecPool } from './image-codec-pool.js';
import type { IndexEntry } from './index-entry.js';
import { fateOf, type InstanceFate, type InstanceFates } from './instance-fates.js';
import { InstanceWriter } from './instance-writer.js';
import { KeyEpochs } from './key-epochs.js';
import { ObjectReader, type SealedObjectReader } from './object-reader.js';
import { objectPath, receiptsPath, type SpoolPaths, spoolPaths } from './paths.js';
import { ReceiptIndex } from './receipts.js';
import { type PurgeOptions, Retention, type RetentionOptions } from './retention.js';
import { sealedRange } from './sealed-range.js';
import { SpoolLog } from './spool-log.js';
import { type CodingStats, CodingTally, type SpoolStats, spoolStatsOf } from './spool-stats.js';
import type { InstanceStore, InstanceWriting, StoreRequest } from './store-contract.js';
import { UplinkMemory } from './uplink-memory.js';

/** Is `pid` a live agent? A pid reused by another program after a crash does not hold the lock. */
async function agentAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || cmdline.includes('ferry-agent');
}

/** One agent per data dir: two writers on one spool log would corrupt it. */
async function takeLock(path: string): Promise<void> {
  try {
    await writeFile(path, String(process.pid), { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw spoolIoError(err, 'locking the spool');
  }
  const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && (await agentAlive(holder))) {
    throw new FerryError('config.invalid', `another agent (pid ${holder}) is using this data directory`);
  }
  await writeFile(path, String(process.pid));
}

/** Opens a spooled object's sealed bytes, wherever they live. */
export function readSealed(log: SpoolLog, id: string): ReadStream {
  const where = log.location(id);
  if (!where) throw new FerryError('spool.corrupt', `spool object ${id} has no location`);
  return where.kind === 'file'
    ? createReadStream(where.path)
    : createReadStream(where.path, { start: where.start, end: where.start + where.length - 1 });
}

/** Sealed bytes are read this much at a time: one thread-pool trip per MiB, not per 64 KiB. */
const RANGE_READ_BYTES = 1 << 20;

/**
 * Opens bytes [start, end) of a spooled object's sealed bytes (end exclusive, start < end), wherever they live:
 * an inline object is a range of its log segment. The uploader sends and hashes parts with it.
 */
export function readSealedRange(log: SpoolLog, id: string, start: number, end: number): ReadStream {
  const r = sealedRange(log, id, start, end);
  // createReadStream's end is inclusive.
  return createReadStream(r.path, {
    start: r.position,
    end: r.position + r.length - 1,
    highWaterMark: Math.min(RANGE_READ_BYTES, r.length),
  });
}

export interface SpoolOptions {
  /** How new objects are coded (compression-policy.ts): agent.json's `upload.compression`, or `auto`. */
  compression?: CompressionMode;
  /** One image codec worker's measured raw bytes per second (the pool's); unset or undefined: unknown. */
  codecBytesPerSecond?: () => number | undefined;
  /**
   * Codes pixel bands of image objects; default a pool of worker threads the spool owns and closes.
   * Tests pass their own to drive the zstd fallback.
   */
  imageCodec?: BandCodec;
}

/**
 * The durability point, and the only contract between receiving and shipping: a receiver stores
 * through InstanceStore (store-contract.ts), the uploader ships through SpoolConsumer (consumer.ts).
 */
export class Spool implements InstanceStore, SpoolConsumer, InstanceFates {
  private readonly inflight = new Map<string, Promise<void>>();

  private constructor(
    /** Its files and its log are the spool's own (and its tests'): callers use the two faces above. */
    readonly paths: SpoolPaths,
    readonly log: SpoolLog,
    private readonly keys: KeyEpochs,
    private readonly logger: Logger,
    private readonly receipts: ReceiptIndex,
    private readonly compression: CompressionChoice,
    private readonly codec: BandCodec,
    /** The pool the spool started, closed with it; undefined when a caller lent one. */
    private readonly ownPool: ImageCodecPool | undefined,
    /** What coding did per modality since the agent started, from each new object's index entry. */
    readonly codingTally: CodingTally,
  ) {
    // Each new object as its put record becomes durable (a duplicate resend makes none).
    log.onPut((e) =>
      this.codingTally.record(
        e.modality ?? '',
        {
          instances: 1,
          rawBytes: e.plainBytes,
          sealedBytes: e.objectBytes,
          jpeglsFrames: e.coding?.jpegLsFrames ?? 0,
          fallbackFrames: e.coding?.fallbackFrames ?? 0,
          codecMs: e.coding?.codecMs ?? 0,
        },
        e.coding?.kind,
      ),
    );
  }

  static async open(
    dataDir: string,
    recipient: JWK,
    logger: Logger,
    opts: SpoolOptions = {},
  ): Promise<Spool> {
    const paths = spoolPaths(dataDir);
    try {
      // Sealed, but a spool's names and sizes are still no one else's business.
      await mkdir(paths.objects, { recursive: true, mode: PRIVATE_DIR_MODE });
      await mkdir(paths.tmp, { recursive: true, mode: PRIVATE_DIR_MODE });
      await mkdir(paths.log, { recursive: true, mode: PRIVATE_DIR_MODE });
      await fsyncDir(paths.root);
    } catch (err) {
      throw spoolIoError(err, 'creating the spool directories');
    }
    await takeLock(paths.lock);
    const log = await SpoolLog.open(paths, logger);
    const receipts = await ReceiptIndex.open(receiptsPath(paths), logger);
    const pool = opts.imageCodec ? undefined : new ImageCodecPool({ log: logger });
    const codecRate = opts.codecBytesPerSecond ?? (pool ? () => pool.workerBytesPerSecond() : undefined);
    const tally = new CodingTally();
    const compression = new CompressionChoice(opts.compression ?? 'auto', logger, {
      memory: await UplinkMemory.open(paths, logger),
      ratios: () => ({ image: tally.ratio('image'), zstd: tally.ratio('zstd') }),
      ...(codecRate ? { codecBytesPerSecond: codecRate } : {}),
      // Only a spool that codes images starts the codec's workers, before its first image object.
      ...(pool ? { onImageCoding: () => pool.warm() } : {}),
    });
    const spool = new Spool(
      paths,
      log,
      new KeyEpochs(recipient),
      logger,
      receipts,
      compression,
      opts.imageCodec ?? pool!,
      pool,
      tally,
    );
    await spool.recover();
    // `auto` decides now from the link last known, so a spool that will code images starts the
    // codec's workers before its first object, and the coding in force is reported from the start.
    compression.choose(log.backlogBytes());
    return spool;
  }

  /** Nothing half-written survives a crash: temp files go, and so do objects the log never took. */
  private async recover(): Promise<void> {
    const parts = await readdir(this.paths.tmp);
    await Promise.all(parts.map((f) => unlink(`${this.paths.tmp}/${f}`)));
    const files = new Set(await readdir(this.paths.objects));
    let orphans = 0;
    for (const f of files) {
      const entry = this.log.get(f.replace(/\.fobj$/, ''));
      if (!entry || entry.inline) {
        await unlink(`${this.paths.objects}/${f}`);
        orphans++;
      }
    }
    const missing = this.log
      .all()
      .filter((e) => !e.inline && e.state !== 'delivered' && !files.has(`${e.id}.fobj`))
      .map((e) => e.id);
    if (missing.length > 0)
      this.logger.error({ event: 'spool.corrupt', missing }, 'indexed spool objects are missing');
    this.logger.info(
      {
        event: 'spool.recovered',
        removedPartials: parts.length,
        removedOrphans: orphans,
        entries: this.log.all().length,
      },
      'spool ready',
    );
  }

  begin(req: StoreRequest): InstanceWriting {
    return new InstanceWriter(req, {
      paths: this.paths,
      spoolLog: this.log,
      keys: this.keys,
      log: this.logger,
      inflight: this.inflight,
      coding: this.compression.choose(this.log.backlogBytes()),
      codec: this.codec,
    });
  }

  /**
   * The `upload.compression` setting, applied live: objects begun from now on are coded by `mode`;
   * those begun or sealed before keep theirs.
   */
  setCompressionMode(mode: CompressionMode): void {
    this.compression.setMode(mode);
  }

  noteUplinkRate(bytesPerSecond: number): void {
    this.compression.noteLinkRate(bytesPerSecond);
  }

  /** How objects begun now are coded, and why (the heartbeat's `compression`). */
  compressionStatus(): CompressionStatus {
    return this.compression.status();
  }

  /** Bytes received and sealed, frames coded and codec time per modality, since the agent started. */
  codingStats(): CodingStats {
    return this.codingTally.snapshot();
  }

  /** RFC 7638 thumbprint of the recipient key new objects are sealed for. */
  recipientThumbprint(): Promise<string> {
    return this.keys.thumbprint();
  }

  /** Seals new objects for `recipient` (a rotated control-plane key); spooled objects are untouched. */
  setRecipient(recipient: JWK, thumbprint: string): void {
    this.keys.setRecipient(recipient, thumbprint);
  }

  entries(): IndexEntry[] {
    return this.log.all();
  }

  /** What is still to ship, what was quarantined (health reports), and the compression choice. */
  stats(): SpoolStats {
    return { ...spoolStatsOf(this.log.all()), compression: this.compression.status() };
  }

  readSealed(id: string): ReadStream {
    return readSealed(this.log, id);
  }

  /** Bytes [start, end) of a spooled object's sealed bytes. */
  readSealedRange(id: string, start: number, end: number): ReadStream {
    return readSealedRange(this.log, id, start, end);
  }

  openObjectReader(): SealedObjectReader {
    return new ObjectReader(this.log);
  }

  readFailure(id: string, err: unknown): FerryError {
    return sealedReadError(id, err);
  }

  pending(): IndexEntry[] {
    return this.log.all().filter((e) => this.isPending(e));
  }

  isPending(e: IndexEntry): boolean {
    return (e.state === 'spooled' || e.state === 'uploading') && this.log.isCommitted(e.id);
  }

  entry(id: string): IndexEntry | undefined {
    return this.log.get(id);
  }

  onStored(listener: (entry: IndexEntry) => void): () => void {
    return this.log.onPut(listener);
  }

  /**
   * A settlement (receipt or refusal) goes into the receipt index first: the log may forget the
   * entry at once, and a crash in between only makes the uploader offer an object the cloud has.
   */
  async mark(id: string, state: ShippingState): Promise<void> {
    const uid = this.log.get(id)?.sopInstanceUid;
    if (uid !== undefined && state !== 'uploading') await this.receipts.record(uid, state);
    const before = this.log.get(id);
    const wasBacklog = before?.state === 'spooled' || before?.state === 'uploading';
    const bytes = before?.objectBytes ?? 0;
    await this.log.setState(id, state);
    // The uplink's drain rate is what it delivers; a quarantined object only shrinks the backlog.
    if (wasBacklog && state === 'delivered') this.compression.delivered(bytes, this.log.backlogBytes());
  }

  fateOf(sopInstanceUid: string): InstanceFate {
    return fateOf(this.log.versionsOf(sopInstanceUid), this.receipts.get(sopInstanceUid));
  }

  onSettled(listener: (sopInstanceUid: string) => void): () => void {
    return this.receipts.onSettled(listener);
  }

  /**
   * Crash-safe and idempotent: unlink, fsync objects/, then the `purged` log record. A crash in
   * between leaves a delivered entry without a purge record, and the next purge unlinks again
   * (ENOENT is success) and records it. Inline objects live in log segments, which the log reclaims.
   */
  async purgeDelivered(ids: readonly string[], opts: PurgeOptions): Promise<string[]> {
    const gone: string[] = [];
    for (const id of ids) {
      if (opts.stopped?.()) break;
      const e = this.log.get(id);
      if (e?.state !== 'delivered' || e.inline || e.purged) continue;
      try {
        await unlink(objectPath(this.paths, id));
        gone.push(id);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') gone.push(id);
        else
          opts.log.warn({ event: 'upload.retention_unlink_failed', objectId: id, err }, 'could not delete');
      }
    }
    if (gone.length === 0) return gone;
    // The deletions are durable before any record says so.
    await fsyncDir(this.paths.objects);
    await Promise.all(gone.map((id) => this.log.markPurged(id)));
    return gone;
  }

  retention(opts: RetentionOptions): Retention {
    return new Retention(this, opts);
  }

  async close(): Promise<void> {
    await this.compression.flushed();
    await this.ownPool?.close();
    await this.log.close();
    await this.receipts.close();
    await unlink(this.paths.lock).catch(() => undefined);
  }
}
