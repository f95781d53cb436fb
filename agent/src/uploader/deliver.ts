import type { Receipt } from '@ferry/shared';
import type { Logger } from 'pino';
import type { IndexEntry, Retention, SpoolConsumer } from '../spool/consumer.js';
import type { Failures } from './failures.js';
import type { UploadTally } from './uploader-stats.js';
import type { WorkQueue } from './work-queue.js';

export interface DeliveryDeps {
  spool: Pick<SpoolConsumer, 'mark'>;
  /** The queue of the current run (each start has its own). */
  queue: () => WorkQueue;
  retention: Retention;
  failures: Failures;
  tally: UploadTally;
  log: Logger;
}

/** Delivered objects: a receipt settles an object once it is checked to be for this very object. */
export class Delivery {
  constructor(private readonly deps: DeliveryDeps) {}

  /** Records the receipt; from then on the object's local copy is retention's. */
  async deliver(e: IndexEntry, receipt: Receipt, objectSha256?: string): Promise<void> {
    const { deps } = this;
    if (
      receipt.objectId !== e.id ||
      receipt.sha256 !== e.sha256 ||
      (objectSha256 !== undefined && receipt.objectSha256 !== objectSha256)
    ) {
      await deps.failures.quarantine(
        e,
        'control.bad_response',
        'the receipt does not match this object (object id, content hash or sealed hash)',
      );
      return;
    }
    try {
      await deps.spool.mark(e.id, 'delivered');
    } catch (err) {
      // Stored in the cloud but not recorded here: the next offer answers `stored` again.
      deps.log.error({ event: 'upload.record_failed', objectId: e.id, err }, 'could not record a receipt');
      deps.failures.retryLater(e, err);
      return;
    }
    deps.queue().settle(e.id);
    deps.tally.delivered(e.receivedAt);
    deps.retention.delivered(e);
    deps.log.debug({ event: 'upload.delivered', objectId: e.id, duplicate: receipt.duplicate }, 'delivered');
  }
}
