import { type FileHandle, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDir } from '../data-dir.js';
import { spoolIoError } from './fs-errors.js';

/** How the cloud settled an instance: it holds it (its receipt), or it refused it for good. */
export type Settlement = 'delivered' | 'quarantined';

/**
 * How long a settlement is remembered. The spool forgets a delivered entry once its log segment is
 * reclaimed (at once for a small object), yet a modality may ask for storage commitment hours or days
 * after it sent; a week covers a weekend's backlog at about 100 bytes per instance.
 */
export const RECEIPT_KEEP_MS = 7 * 24 * 3_600_000;

interface Line {
  /** SOP Instance UID. */
  u: string;
  s: 'd' | 'q';
  /** When it was recorded (ms since the epoch). */
  t: number;
}

interface Waiting {
  bytes: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The cloud's verdict per SOP Instance UID, durable and outliving the spool entry: an append-only
 * file of JSON lines, fdatasynced before a settlement counts (one fdatasync covers every line queued
 * while the previous one ran). UIDs only, no patient data. A torn last line is dropped at open: its
 * fdatasync never completed, so nobody acted on it.
 */
export class ReceiptIndex {
  private readonly byUid = new Map<string, { state: Settlement; at: number }>();
  private readonly listeners = new Set<(sopInstanceUid: string, state: Settlement) => void>();
  private queue: Waiting[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly log: Logger,
  ) {}

  /** Opens (or creates) `path`, dropping settlements older than RECEIPT_KEEP_MS. */
  static async open(path: string, log: Logger, now = Date.now()): Promise<ReceiptIndex> {
    const lines: Line[] = [];
    let dropped = 0;
    try {
      const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      for (const raw of text.split('\n')) {
        if (raw === '') continue;
        const line = parseLine(raw);
        if (line && now - line.t < RECEIPT_KEEP_MS) lines.push(line);
        else dropped++;
      }
      if (dropped > 0) {
        // Rewritten whole, crash-safely: a reader sees the old file or the new one.
        const tmp = `${path}.tmp`;
        const out = await open(tmp, 'w', 0o600);
        try {
          await out.writeFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
          await out.sync();
        } finally {
          await out.close();
        }
        await rename(tmp, path);
        await fsyncDir(dirname(path));
      }
      const fh = await open(path, 'a', 0o600);
      const index = new ReceiptIndex(fh, log);
      for (const l of lines) index.apply(l);
      return index;
    } catch (err) {
      throw spoolIoError(err, 'opening the receipt index');
    }
  }

  /** The settlement recorded for this SOP Instance UID; a receipt outranks a later refusal. */
  get(sopInstanceUid: string): Settlement | undefined {
    return this.byUid.get(sopInstanceUid)?.state;
  }

  /** Calls `listener` after each settlement is durable. Returns a function that removes it. */
  onSettled(listener: (sopInstanceUid: string, state: Settlement) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a settlement durably, then tells the listeners. */
  async record(sopInstanceUid: string, state: Settlement, now = Date.now()): Promise<void> {
    const line: Line = { u: sopInstanceUid, s: state === 'delivered' ? 'd' : 'q', t: now };
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes: Buffer.from(`${JSON.stringify(line)}\n`, 'utf8'), resolve, reject });
      this.flushing ??= this.flush();
    });
    this.apply(line);
    for (const listener of this.listeners) {
      try {
        listener(sopInstanceUid, this.get(sopInstanceUid) ?? state);
      } catch (err) {
        this.log.error({ err }, 'a receipt listener failed');
      }
    }
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.fh.close();
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.fh.write(Buffer.concat(batch.map((w) => w.bytes)));
        await this.fh.datasync();
        for (const w of batch) w.resolve();
      } catch (err) {
        const failure = spoolIoError(err, 'recording a cloud receipt');
        for (const w of batch) w.reject(failure);
      }
    }
    this.flushing = undefined;
  }

  private apply(line: Line): void {
    const state: Settlement = line.s === 'd' ? 'delivered' : 'quarantined';
    const had = this.byUid.get(line.u);
    if (had?.state === 'delivered' && state === 'quarantined') return;
    this.byUid.set(line.u, { state, at: line.t });
  }
}

function parseLine(raw: string): Line | undefined {
  try {
    const v = JSON.parse(raw) as Partial<Line>;
    if (typeof v.u === 'string' && (v.s === 'd' || v.s === 'q') && typeof v.t === 'number') return v as Line;
  } catch {
    // A torn last line.
  }
  return undefined;
}
