import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SpoolPaths } from './paths.js';

/** Saved at most this often: the rate is a hint, and a busy spool goes idle many times a minute. */
const SAVE_EVERY_MS = 10_000;

/**
 * The last uplink rate the drain meter measured, kept across idle periods (the meter forgets on idle)
 * and across restarts in spool/uplink-rate.json, so a study arriving after a quiet night is coded for
 * the link as last seen. Only a hint for the compression choice: a lost or torn file means "unknown".
 */
export class UplinkMemory {
  private rate: number | undefined;
  private savedAt = Number.NEGATIVE_INFINITY;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly log: Logger,
    rate: number | undefined,
  ) {
    this.rate = rate;
  }

  static async open(paths: SpoolPaths, log: Logger): Promise<UplinkMemory> {
    const path = join(paths.root, 'uplink-rate.json');
    let rate: number | undefined;
    try {
      const saved = JSON.parse(await readFile(path, 'utf8')) as { bytesPerSecond?: unknown };
      if (typeof saved.bytesPerSecond === 'number' && saved.bytesPerSecond > 0) rate = saved.bytesPerSecond;
    } catch {
      // Never measured, or torn by a crash mid-write: unknown.
    }
    return new UplinkMemory(path, log, rate);
  }

  /** An in-memory memory, saved nowhere (tests, and a spool opened without one). */
  static inMemory(rate?: number): UplinkMemory {
    return new UplinkMemory('', { warn: () => undefined } as unknown as Logger, rate);
  }

  get(): number | undefined {
    return this.rate;
  }

  /** A rate measured now; a stalled uplink's 0 is not remembered (it says nothing about the link). */
  set(bytesPerSecond: number): void {
    if (bytesPerSecond > 0) this.rate = bytesPerSecond;
  }

  /** Writes the rate to disk in the background, at most every SAVE_EVERY_MS (`now`: monotonic ms). */
  save(now: number): void {
    if (this.path === '' || this.rate === undefined || now - this.savedAt < SAVE_EVERY_MS) return;
    this.savedAt = now;
    const body = JSON.stringify({ bytesPerSecond: Math.round(this.rate), savedAt: new Date().toISOString() });
    const tmp = `${this.path}.tmp`;
    this.saving = this.saving
      .then(() => writeFile(tmp, body))
      .then(() => rename(tmp, this.path))
      .catch((err: unknown) =>
        this.log.warn({ event: 'spool.uplink_rate_unsaved', err }, 'could not save the uplink rate'),
      );
  }

  /** Waits for a save under way (the spool's close). */
  flushed(): Promise<void> {
    return this.saving;
  }
}
