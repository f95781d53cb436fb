import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { sweepPackBlobs } from '../services/sweep-pack-blobs.js';
import type { BlobStore } from '../storage/blob-store.js';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.js';

export const PACK_BLOB_SWEEP_INTERVAL_MS = 10 * 60_000;

/** Deletes pack blobs no instance or open upload names any more (services/sweep-pack-blobs.ts). */
export function startPackBlobSweep(opts: {
  db: Db;
  log: Logger;
  blobStore: BlobStore;
  intervalMs?: number;
}): PeriodicJob {
  return startPeriodicJob({
    name: 'pack-blob-sweep',
    db: opts.db,
    log: opts.log,
    intervalMs: opts.intervalMs ?? PACK_BLOB_SWEEP_INTERVAL_MS,
    run: async (ctx, log) => {
      const swept = await sweepPackBlobs({ ctx, deps: { blobStore: opts.blobStore } });
      if (swept > 0) log.info({ event: 'pack_blobs.swept', count: swept }, 'unreferenced pack blobs deleted');
    },
  });
}
