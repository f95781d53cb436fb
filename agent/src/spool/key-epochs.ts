import { deriveObjectKey, newDataKey, wrapDataKey } from '@ferry/shared';
import type { JWK } from 'jose';

interface Epoch {
  key: Buffer;
  wrapped: string;
  createdAt: number;
  uses: number;
}

/**
 * One ECDH wrap costs ~1 ms, too much per small instance, so an epoch key is wrapped once and each
 * object key is derived from it with HKDF and the object id. The epoch key lives only in memory and
 * is replaced after a few minutes or uses; the agent cannot decrypt what it spooled before.
 */
export class KeyEpochs {
  private current: Promise<Epoch> | undefined;

  constructor(
    private readonly recipient: JWK,
    private readonly maxAgeMs = 5 * 60_000,
    private readonly maxUses = 10_000,
  ) {}

  async objectKey(objectId: string): Promise<{ key: Buffer; wrappedKey: string }> {
    for (;;) {
      this.current ??= this.fresh();
      const pending = this.current;
      const epoch = await pending.catch((err: unknown) => {
        if (this.current === pending) this.current = undefined;
        throw err;
      });
      if (Date.now() - epoch.createdAt <= this.maxAgeMs && epoch.uses < this.maxUses) {
        epoch.uses++;
        return { key: deriveObjectKey(epoch.key, objectId), wrappedKey: epoch.wrapped };
      }
      if (this.current === pending) this.current = undefined;
    }
  }

  private async fresh(): Promise<Epoch> {
    const key = newDataKey();
    return { key, wrapped: await wrapDataKey(key, this.recipient), createdAt: Date.now(), uses: 0 };
  }
}
