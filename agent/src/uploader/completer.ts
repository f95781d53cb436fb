import type { UploadCompleteRequest, UploadCompleteResult } from '@ferry/shared';
import { FerryError } from '@ferry/shared';
import type { UploadApi } from './upload-client.js';
import { verdictOf } from './verdict.js';

type CompleteItem = UploadCompleteRequest['objects'][number];
const MAX_BATCH = 200;
/** The control plane reads back and verifies every byte of a completed object: keep one call's work bounded. */
const MAX_BATCH_BYTES = 256 << 20;

interface Waiter {
  item: CompleteItem;
  bytes: number;
  resolve: (r: UploadCompleteResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Calls out at once, at most. Two: while the control plane verifies one batch it records the other
 * (a database commit), so neither waits on the other, and a third would only split the batches.
 */
const MAX_CALLS = 2;

/**
 * Coalesces completions into batched calls: while the calls are out, finished objects gather for the
 * next, so many small objects share one round trip and a lone large one is not kept waiting.
 */
export class Completer {
  private queue: Waiter[] = [];
  private running = 0;

  /** `signal()`: the current stop signal; a stopping uploader abandons calls in flight. */
  constructor(
    private readonly api: UploadApi,
    private readonly signal: () => AbortSignal | undefined = () => undefined,
  ) {}

  /** `bytes`: the sealed object's size, which the control plane reads back to verify. */
  complete(item: CompleteItem, bytes: number): Promise<UploadCompleteResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, bytes, resolve, reject });
      if (this.running < MAX_CALLS) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    while (this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (
        n < this.queue.length &&
        n < MAX_BATCH &&
        (n === 0 || bytes + this.queue[n]!.bytes <= MAX_BATCH_BYTES)
      )
        bytes += this.queue[n++]!.bytes;
      await this.call(this.queue.splice(0, n), bytes);
    }
    this.running--;
  }

  /** One call; a batch refused as a whole is split to find the object at fault. */
  private async call(batch: Waiter[], bytes: number): Promise<void> {
    let results: UploadCompleteResult[];
    try {
      results = await this.api.complete(
        batch.map((w) => w.item),
        this.signal(),
        bytes,
      );
    } catch (err) {
      if (batch.length > 1 && verdictOf(err) === 'permanent') {
        const half = Math.ceil(batch.length / 2);
        const [a, b] = [batch.slice(0, half), batch.slice(half)];
        await this.call(a, sumBytes(a));
        await this.call(b, sumBytes(b));
        return;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    const byId = new Map<string, UploadCompleteResult>();
    for (const r of results) if (!byId.has(r.objectId)) byId.set(r.objectId, r);
    for (const w of batch) {
      const r = byId.get(w.item.objectId);
      if (r) w.resolve(r);
      else
        w.reject(
          new FerryError('control.bad_response', 'the control plane did not answer for this object', {
            details: { objectId: w.item.objectId },
          }),
        );
    }
  }
}

function sumBytes(batch: Waiter[]): number {
  return batch.reduce((n, w) => n + w.bytes, 0);
}
