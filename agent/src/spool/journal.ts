import { type FileHandle, open, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { spoolIoError } from './fs-errors.js';
import { type IndexEntry, type JournalRecord, journalRecordSchema, type SpoolState } from './index-entry.js';

/**
 * The spool index: an append-only JSON-lines journal replayed into memory at start. Appends are
 * grouped: every record waiting while one fdatasync runs shares the next one (group commit).
 */
export class Journal {
  private readonly entries = new Map<string, IndexEntry>();
  private readonly bySop = new Map<string, IndexEntry[]>();
  private size = 0;
  private queue: { lines: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private beforeFlush: (() => Promise<void>) | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly log: Logger,
  ) {}

  static async open(path: string, log: Logger): Promise<Journal> {
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw spoolIoError(err, 'reading the spool index');
    }
    const fh = await open(path, 'a+');
    const journal = new Journal(fh, log);
    let good = 0;
    for (const line of text.split('\n')) {
      if (line === '') {
        good += 1;
        continue;
      }
      const parsed = journalRecordSchema.safeParse(safeJson(line));
      // A torn tail is a record whose fsync never finished, so nobody was told it was stored.
      if (!parsed.success) break;
      journal.apply(parsed.data);
      good += Buffer.byteLength(line) + 1;
    }
    good = Math.min(good, Buffer.byteLength(text));
    if (good < Buffer.byteLength(text)) {
      log.warn(
        { event: 'spool.journal_truncated', keptBytes: good, droppedBytes: Buffer.byteLength(text) - good },
        'dropped a torn journal tail',
      );
      await fh.truncate(good);
      await fh.datasync();
    }
    journal.size = good;
    return journal;
  }

  /** Runs before each group's journal write: the spool fsyncs its objects directory there. */
  setBeforeFlush(fn: () => Promise<void>): void {
    this.beforeFlush = fn;
  }

  all(): IndexEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): IndexEntry | undefined {
    return this.entries.get(id);
  }

  versionsOf(sopInstanceUid: string): readonly IndexEntry[] {
    return this.bySop.get(sopInstanceUid) ?? [];
  }

  /**
   * Claims the entry in memory at once, so a concurrent duplicate sees it, then runs `prepare` (the
   * rename into objects/) and makes the entry durable. Any failure releases the claim.
   */
  async put(entry: IndexEntry, prepare: () => Promise<void> = async () => undefined): Promise<void> {
    this.apply({ t: 'put', e: entry });
    try {
      await prepare();
      await this.append([{ t: 'put', e: entry }]);
    } catch (err) {
      this.unapply(entry);
      throw err;
    }
  }

  async setState(id: string, state: SpoolState): Promise<void> {
    await this.append([{ t: 'state', id, state }]);
    this.apply({ t: 'state', id, state });
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private apply(rec: JournalRecord): void {
    if (rec.t === 'put') {
      this.entries.set(rec.e.id, rec.e);
      const list = this.bySop.get(rec.e.sopInstanceUid) ?? [];
      list.push(rec.e);
      this.bySop.set(rec.e.sopInstanceUid, list);
    } else if (rec.t === 'state') {
      const e = this.entries.get(rec.id);
      if (e) e.state = rec.state;
    } else {
      const e = this.entries.get(rec.id);
      if (e) this.unapply(e);
    }
  }

  private unapply(entry: IndexEntry): void {
    this.entries.delete(entry.id);
    const list = (this.bySop.get(entry.sopInstanceUid) ?? []).filter((e) => e.id !== entry.id);
    if (list.length === 0) this.bySop.delete(entry.sopInstanceUid);
    else this.bySop.set(entry.sopInstanceUid, list);
  }

  private append(records: JournalRecord[]): Promise<void> {
    const lines = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    return new Promise((resolve, reject) => {
      this.queue.push({ lines, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const data = Buffer.from(batch.map((b) => b.lines).join(''), 'utf8');
      const before = this.size;
      try {
        if (this.beforeFlush) await this.beforeFlush();
        await this.fh.write(data, 0, data.length, before);
        await this.fh.datasync();
        this.size = before + data.length;
        for (const b of batch) b.resolve();
      } catch (err) {
        const error = spoolIoError(err, 'writing the spool index');
        // Cut any partial write so the journal never holds a record nobody was told about.
        await this.fh
          .truncate(before)
          .catch((e: unknown) => this.log.error({ err: e }, 'journal truncate failed'));
        for (const b of batch) b.reject(error);
      }
    }
    this.flushing = false;
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
