import type { UploadCompleteRequest, UploadCompleteResult } from '@ferry/shared';
import { FerryError } from '@ferry/shared';
import type { UploadApi } from './upload-client.js';
import { verdictOf } from './verdict.js';

type CompleteItem = UploadCompleteRequest['objects'][number];
const MAX_BATCH = 200;

interface Waiter {
  item: CompleteItem;
  resolve: (r: UploadCompleteResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Coalesces completions into batched calls: while one call is out, finished objects gather for the
 * next, so many small objects share one round trip and a lone large one is not kept waiting.
 */
export class Completer {
  private queue: Waiter[] = [];
  private running = false;

  constructor(private readonly api: UploadApi) {}

  complete(item: CompleteItem): Promise<UploadCompleteResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      await this.call(batch);
    }
    this.running = false;
  }

  /** One call; a batch refused as a whole is split to find the object at fault. */
  private async call(batch: Waiter[]): Promise<void> {
    let results: UploadCompleteResult[];
    try {
      results = await this.api.complete(batch.map((w) => w.item));
    } catch (err) {
      if (batch.length > 1 && verdictOf(err) === 'permanent') {
        const half = Math.ceil(batch.length / 2);
        await this.call(batch.slice(0, half));
        await this.call(batch.slice(half));
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
