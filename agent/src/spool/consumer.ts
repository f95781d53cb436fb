import type { ReadStream } from 'node:fs';
import type { FerryError } from '@ferry/shared';
import type { IndexEntry, SpoolState } from './index-entry.js';
import type { SealedObjectReader } from './object-reader.js';
import type { PurgeOptions, Retention, RetentionOptions } from './retention.js';

export type { IndexEntry } from './index-entry.js';
export type { SealedObjectReader } from './object-reader.js';
export type { PurgeOptions, Retention, RetentionOptions } from './retention.js';

/** The states the shipping side records; `spooled` is the spool's own. */
export type ShippingState = Exclude<SpoolState, 'spooled'>;

/**
 * What the shipping side (the uploader) may do with the spool: find the objects still to ship, read
 * their sealed bytes, record how shipping went, and have delivered local copies deleted once their
 * retention is up. Where objects live, the log and the files under the spool stay the spool's.
 */
export interface SpoolConsumer {
  /** Every entry still to ship: spooled or uploading, and durable. */
  pending(): IndexEntry[];
  /** Is `entry` still to ship? Entries change state in place, so the answer can change. */
  isPending(entry: IndexEntry): boolean;
  /** The entry as the spool has it now. */
  entry(id: string): IndexEntry | undefined;
  /**
   * Calls `listener` with each entry as soon as it is durable, so a reader can wake instead of
   * polling. Returns a function that removes the listener.
   */
  onStored(listener: (entry: IndexEntry) => void): () => void;
  /** Records a shipping state durably. */
  mark(id: string, state: ShippingState): Promise<void>;
  /** Bytes [start, end) of an object's sealed bytes (end exclusive, start < end). */
  readSealedRange(id: string, start: number, end: number): ReadStream;
  /**
   * A reader of whole sealed objects of up to a few MiB (the members of a pack): one positional
   * read each, one open per file however many objects it holds. Close it when done.
   */
  openObjectReader(): SealedObjectReader;
  /** The spool error a read of `id`'s sealed bytes failed with (the stream's `error` event). */
  readFailure(id: string, err: unknown): FerryError;
  /**
   * Deletes the local copies of these delivered file objects, durably, and records it; anything
   * else among `ids` is left alone. Resolves with the ids whose copies are gone.
   */
  purgeDelivered(ids: readonly string[], opts: PurgeOptions): Promise<string[]>;
  /**
   * The uplink's capacity as the uploader measured it (bytes PUT per second of time with a PUT in
   * flight): the rate the `auto` compression rule goes by.
   */
  noteUplinkRate(bytesPerSecond: number): void;
  /** A sweeper that purges delivered local copies `retentionMs` after their receipt while started. */
  retention(opts: RetentionOptions): Retention;
}
