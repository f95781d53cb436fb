import { type FileHandle, open } from 'node:fs/promises';

/** A file nobody has read for this long is closed: a reclaimed log segment's space comes back soon. */
const IDLE_MS = 1000;
/** Files kept open at most, besides those being read. */
const MAX_OPEN = 8;

interface Held {
  fh: Promise<FileHandle>;
  users: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Files the uploader read lately, kept open for a moment. The small objects of a batch live in one
 * or two log segments, and an open and a close are two trips to the thread pool for each read that
 * needs one. Files are only read, by position; nothing here writes.
 */
export class SealedFiles {
  /** In order of last use, oldest first. */
  private readonly files = new Map<string, Held>();

  /** Fills `bytes` from `position` of the file at `path`; rejects with the file system's error. */
  async read(path: string, position: number, bytes: Buffer): Promise<void> {
    const held = this.acquire(path);
    try {
      const fh = await held.fh;
      let at = 0;
      while (at < bytes.length) {
        const { bytesRead } = await fh.read(bytes, at, bytes.length - at, position + at);
        if (bytesRead === 0) throw Object.assign(new Error(`${path} ends early`), { code: 'ESHORT' });
        at += bytesRead;
      }
    } finally {
      this.release(path, held);
    }
  }

  /** Closes every file not being read; those being read close when their reads end. */
  async close(): Promise<void> {
    const idle = [...this.files].filter(([, h]) => h.users === 0);
    this.files.clear();
    await Promise.all(idle.map(([, h]) => shut(h)));
  }

  private acquire(path: string): Held {
    let held = this.files.get(path);
    if (held) {
      this.files.delete(path);
      clearTimeout(held.timer);
      held.timer = undefined;
    } else {
      const opened: Held = { fh: open(path, 'r'), users: 0, timer: undefined };
      // A failed open is not kept: the next read tries again (and the reader sees this error).
      opened.fh.catch(() => {
        if (this.files.get(path) === opened) this.files.delete(path);
      });
      held = opened;
    }
    this.files.set(path, held);
    held.users++;
    this.trim();
    return held;
  }

  private release(path: string, held: Held): void {
    held.users--;
    if (held.users > 0) return;
    if (this.files.get(path) !== held) {
      void shut(held);
      return;
    }
    held.timer = setTimeout(() => {
      if (this.files.get(path) !== held || held.users > 0) return;
      this.files.delete(path);
      void shut(held);
    }, IDLE_MS);
    held.timer.unref();
  }

  /** Over MAX_OPEN, the least recently used idle files are closed. */
  private trim(): void {
    for (const [path, held] of this.files) {
      if (this.files.size <= MAX_OPEN) return;
      if (held.users > 0) continue;
      this.files.delete(path);
      clearTimeout(held.timer);
      void shut(held);
    }
  }
}

function shut(held: Held): Promise<void> {
  clearTimeout(held.timer);
  return held.fh.then((fh) => fh.close()).catch(() => undefined);
}
