import { constants as fsc } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { FerryError } from '@ferry/shared';
import { releaseBuffers } from './buffer-release.js';
import { spoolIoError } from './fs-errors.js';
import { writeFully } from './write-fully.js';

/** Positional writes in flight: they land in the page cache, so a few keep the next frame sealing. */
const MAX_WRITES_IN_FLIGHT = 4;
/**
 * Bytes written between background fdatasyncs. O_DSYNC on a growing file costs a journal commit per
 * write (measured 3.4 ms per 1 MiB append, 15 ms per 4 MiB, against 1-2.5 ms for an fdatasync of
 * either); syncing every 16 MiB overlaps the flush with receiving and leaves the final fdatasync,
 * the one the C-STORE response waits for, at most this much to flush (plus what arrived meanwhile).
 */
export const SYNC_EVERY_BYTES = 16 << 20;

/**
 * The `.part` file of a large instance. Writes go through the page cache, positional and several at
 * once; an fdatasync runs in the background every SYNC_EVERY_BYTES, one at a time, and a writer that
 * gets a further SYNC_EVERY_BYTES ahead of it waits (so unsynced bytes stay bounded and the socket is
 * paused upstream). `finish()` waits for every write, fdatasyncs once more and closes: only then is
 * every byte durable, which is what the commit waits for before the index record and the response.
 */
export class SpillFile {
  private offset = 0;
  private syncedTo = 0;
  private readonly writes = new Set<Promise<void>>();
  private syncing: Promise<void> | undefined;
  private error: FerryError | undefined;

  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string): Promise<SpillFile> {
    try {
      return new SpillFile(await open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600));
    } catch (err) {
      throw spoolIoError(err, 'creating a spool file');
    }
  }

  /**
   * Starts writing `buffers` after what was written before; resolves when another write may start.
   * The buffers are the file's from then on: each is released (buffer-release.ts) once written.
   */
  async write(buffers: Buffer[]): Promise<void> {
    if (this.error) throw this.error;
    const at = this.offset;
    this.offset += buffers.reduce((n, b) => n + b.length, 0);
    const written = writeFully(this.fh, buffers, at);
    void written.finally(() => releaseBuffers(buffers)).catch(() => undefined);
    this.track(written, 'writing a spool object');
    if (this.writes.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(this.writes);
    if (this.offset - this.syncedTo >= SYNC_EVERY_BYTES) await this.syncBehind();
    if (this.error) throw this.error;
  }

  /** Every byte written is on disk, and the file is closed. */
  async finish(): Promise<void> {
    await this.settle();
    await this.syncing;
    if (!this.error) {
      try {
        await this.fh.datasync();
      } catch (err) {
        this.error = spoolIoError(err, 'syncing a spool object');
      }
    }
    try {
      await this.fh.close();
    } catch (err) {
      this.error ??= spoolIoError(err, 'closing a spool object');
    }
    if (this.error) throw this.error;
  }

  /** Waits for what is in flight and closes, durable or not: the file is being thrown away. */
  async discard(): Promise<void> {
    await Promise.all(this.writes);
    await this.syncing;
    await this.fh.close().catch(() => undefined);
  }

  /**
   * Syncs in the background what has been written so far (at least every completed write; the final
   * sync in finish() is the one that counts). The previous sync must end first: waiting for it here
   * is the back-pressure on a sender faster than the disk.
   */
  private async syncBehind(): Promise<void> {
    if (this.syncing) await this.syncing;
    if (this.error) return;
    this.syncedTo = this.offset;
    const sync = this.fh.datasync().then(
      () => undefined,
      (err: unknown) => {
        this.error ??= spoolIoError(err, 'syncing a spool object');
      },
    );
    this.syncing = sync;
    void sync.finally(() => {
      if (this.syncing === sync) this.syncing = undefined;
    });
  }

  private async settle(): Promise<void> {
    await Promise.all(this.writes);
  }

  private track(p: Promise<unknown>, action: string): void {
    const w = p.then(
      () => undefined,
      (err: unknown) => {
        this.error ??= spoolIoError(err, action);
      },
    );
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }
}
