import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ZipArchive } from 'archiver';

export interface ZipEntrySource {
  /** Path inside the archive (already safe: relative, `/`-separated). */
  name: string;
  date?: Date;
  /** Opens the entry's bytes; called only when the archive reaches this entry. */
  open: () => AsyncIterable<Buffer>;
}

/**
 * A zip archive (store mode: DICOM pixel data is mostly compressed already, and storing keeps the
 * CPU free) of `entries`, as a byte stream. Entries are opened one at a time, when the archive
 * reaches them, and read only as fast as the consumer takes the output, so memory stays at a few
 * buffers whatever the sizes. Zip64 records are written when an entry or the archive passes 4 GiB or
 * 65,535 entries. A failing entry fails the stream (the consumer must abort, not end, its output);
 * a consumer that stops early stops the entry being read.
 */
export async function* zipStream(entries: Iterable<ZipEntrySource>): AsyncGenerator<Buffer> {
  const archive = new ZipArchive({ store: true });
  const stop = new AbortController();
  let current: Readable | undefined;
  const feed = (async () => {
    for (const entry of entries) {
      if (stop.signal.aborted) return;
      const source = Readable.from(entry.open(), { objectMode: false });
      current = source;
      // archiver pipes the source through a PassThrough and does not see its errors.
      source.once('error', (err) => archive.destroy(err));
      const appended = once(archive, 'entry', { signal: stop.signal });
      archive.append(source, { name: entry.name, date: entry.date ?? new Date() });
      await appended;
    }
    current = undefined;
    await archive.finalize();
  })();
  feed.catch((err: unknown) => {
    if (!stop.signal.aborted) archive.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  try {
    for await (const chunk of archive) yield chunk as Buffer;
    await feed;
  } finally {
    stop.abort();
    current?.destroy();
    archive.destroy();
  }
}
