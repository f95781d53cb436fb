import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { StoreHandler, StoreRequest, StoreWriter } from '../dimse/store-handler.js';
import { spoolIoError } from './fs-errors.js';
import type { IndexEntry } from './index-entry.js';
import { InstanceWriter } from './instance-writer.js';
import { Journal } from './journal.js';
import { KeyEpochs } from './key-epochs.js';
import { objectPath, type SpoolPaths, spoolPaths } from './paths.js';

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The durability point, and the only contract between receiving and shipping. */
export class Spool implements StoreHandler {
  private readonly inflight = new Map<string, Promise<void>>();

  private constructor(
    readonly paths: SpoolPaths,
    readonly journal: Journal,
    private readonly keys: KeyEpochs,
    private readonly log: Logger,
  ) {}

  static async open(dataDir: string, recipient: JWK, log: Logger): Promise<Spool> {
    const paths = spoolPaths(dataDir);
    try {
      await mkdir(paths.objects, { recursive: true });
      await mkdir(paths.tmp, { recursive: true });
      await fsyncDir(paths.root);
    } catch (err) {
      throw spoolIoError(err, 'creating the spool directories');
    }
    const journal = await Journal.open(paths.journal, log);
    journal.setBeforeFlush(() => fsyncDir(paths.objects));
    const spool = new Spool(paths, journal, new KeyEpochs(recipient), log);
    await spool.recover();
    return spool;
  }

  /** Nothing half-written survives a crash: temp files go, and so do objects the index never took. */
  private async recover(): Promise<void> {
    const parts = await readdir(this.paths.tmp);
    await Promise.all(parts.map((f) => unlink(`${this.paths.tmp}/${f}`)));
    const files = new Set(await readdir(this.paths.objects));
    let orphans = 0;
    for (const f of files) {
      const id = f.replace(/\.fobj$/, '');
      if (!this.journal.get(id)) {
        await unlink(`${this.paths.objects}/${f}`);
        orphans++;
      }
    }
    const missing = this.journal
      .all()
      .filter((e) => e.state !== 'delivered' && !files.has(`${e.id}.fobj`))
      .map((e) => e.id);
    if (missing.length > 0)
      this.log.error({ event: 'spool.corrupt', missing }, 'indexed spool objects are missing');
    this.log.info(
      {
        event: 'spool.recovered',
        removedPartials: parts.length,
        removedOrphans: orphans,
        entries: this.journal.all().length,
      },
      'spool ready',
    );
  }

  begin(req: StoreRequest): StoreWriter {
    return new InstanceWriter(req, {
      paths: this.paths,
      journal: this.journal,
      keys: this.keys,
      log: this.log,
      inflight: this.inflight,
    });
  }

  entries(): IndexEntry[] {
    return this.journal.all();
  }

  objectPath(id: string): string {
    return objectPath(this.paths, id);
  }

  async close(): Promise<void> {
    await this.journal.close();
  }
}
