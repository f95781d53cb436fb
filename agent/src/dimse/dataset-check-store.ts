import type { Logger } from 'pino';
import { type DatasetCheck, datasetCheckFor } from './dataset-check-syntax.js';
import type { StoreHandler, StoreOutcome, StoreRequest, StoreWriter } from './store-handler.js';
import { storeFailureStatus } from './store-status.js';

/**
 * A store that answers Success only for a dataset read to its end: every slice passes through a
 * structure check on its way to `inner`, and a dataset that fails it is aborted in `inner` (nothing
 * kept, nothing queued for upload) and answered with the error table's status for
 * dicom.dataset_malformed and an Error Comment that says what is wrong. The association carries on.
 */
export function checkedStore(inner: StoreHandler, log: Logger): StoreHandler {
  return {
    begin(req) {
      const writer = inner.begin(req);
      const check = datasetCheckFor(req.transferSyntaxUid);
      return check ? new CheckedWriter(req, writer, check, log) : writer;
    },
  };
}

class CheckedWriter implements StoreWriter {
  private innerBlocked = false;
  private checkBlocked = false;
  private dropped = false;

  constructor(
    private readonly req: StoreRequest,
    private readonly inner: StoreWriter,
    private readonly check: DatasetCheck,
    private readonly log: Logger,
  ) {}

  get copiesSlices(): boolean {
    return this.check.copiesSlices && this.inner.copiesSlices === true;
  }

  write(slice: Buffer): boolean {
    if (this.dropped) return true;
    // The check sees each slice first, so a slice that shows the damage is never written.
    const checkReady = this.check.write(slice);
    if (this.check.failed) {
      this.drop();
      return true;
    }
    const innerReady = this.inner.write(slice);
    this.innerBlocked = !innerReady;
    this.checkBlocked = !checkReady;
    return innerReady && checkReady;
  }

  onDrain(cb: () => void): void {
    let waiting = Number(this.innerBlocked) + Number(this.checkBlocked);
    if (waiting === 0) return cb();
    const one = () => {
      if (--waiting === 0) cb();
    };
    if (this.innerBlocked)
      this.inner.onDrain(() => {
        this.innerBlocked = false;
        one();
      });
    if (this.checkBlocked)
      this.check.onDrain(() => {
        this.checkBlocked = false;
        one();
      });
  }

  async end(): Promise<StoreOutcome> {
    const verdict = await this.check.finish();
    if (verdict.problem === undefined) return this.inner.end();
    this.drop();
    this.log.warn(
      {
        event: 'dicom.dataset_malformed',
        assoc: this.req.associationId,
        callingAe: this.req.callingAeTitle,
        sopClassUid: this.req.sopClassUid,
        sopInstanceUid: this.req.sopInstanceUid,
        transferSyntaxUid: this.req.transferSyntaxUid,
        problem: verdict.problem,
        ...verdict.detail,
      },
      'dataset refused: not read to its end or not well formed',
    );
    return { status: storeFailureStatus('dicom.dataset_malformed'), errorComment: verdict.problem };
  }

  abort(): void {
    this.check.dispose();
    this.drop();
  }

  /** Discards what `inner` holds; the rest of the dataset is read and dropped here. */
  private drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.inner.abort();
  }
}
