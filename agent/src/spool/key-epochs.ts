import { deriveObjectKey, newDataKey, recipientKeyThumbprint, wrapDataKey } from '@ferry/shared';
import type { JWK } from 'jose';

interface Epoch {
  key: Buffer;
  wrapped: string;
  /** The recipient key it is wrapped for. */
  recipient: JWK;
  createdAt: number;
  uses: number;
}

/**
 * One ECDH wrap costs ~1 ms, too much per small instance, so an epoch key is wrapped once and each
 * object key is derived from it with HKDF and the object id. The epoch key lives only in memory and
 * is replaced after a few minutes or uses; the agent cannot decrypt what it spooled before. A new
 * recipient key (the control plane rotated its key) starts a new epoch at once.
 */
export class KeyEpochs {
  private current: Promise<Epoch> | undefined;
  private recipientThumbprint: Promise<string>;

  constructor(
    private recipient: JWK,
    private readonly maxAgeMs = 5 * 60_000,
    private readonly maxUses = 10_000,
  ) {
    this.recipientThumbprint = recipientKeyThumbprint(recipient);
    // Asked for only by the control channel; a bad key fails sealing on its own, loudly.
    this.recipientThumbprint.catch(() => {});
  }

  /** RFC 7638 thumbprint of the recipient key new objects are sealed for. */
  thumbprint(): Promise<string> {
    return this.recipientThumbprint;
  }

  /** Seals every object from now on for `recipient`; objects already sealed keep their old key. */
  setRecipient(recipient: JWK, thumbprint: string): void {
    this.recipient = recipient;
    this.recipientThumbprint = Promise.resolve(thumbprint);
    this.current = undefined;
  }

  async objectKey(objectId: string): Promise<{ key: Buffer; wrappedKey: string }> {
    for (;;) {
      this.current ??= this.fresh();
      const pending = this.current;
      const epoch = await pending.catch((err: unknown) => {
        if (this.current === pending) this.current = undefined;
        throw err;
      });
      // An epoch wrapped for the key before a rotation is not used for new objects.
      if (
        epoch.recipient === this.recipient &&
        Date.now() - epoch.createdAt <= this.maxAgeMs &&
        epoch.uses < this.maxUses
      ) {
        epoch.uses++;
        return { key: deriveObjectKey(epoch.key, objectId), wrappedKey: epoch.wrapped };
      }
      if (this.current === pending) this.current = undefined;
    }
  }

  private async fresh(): Promise<Epoch> {
    const key = newDataKey();
    const recipient = this.recipient;
    return { key, wrapped: await wrapDataKey(key, recipient), recipient, createdAt: Date.now(), uses: 0 };
  }
}
