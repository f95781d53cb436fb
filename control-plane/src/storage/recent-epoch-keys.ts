import { unwrapDataKey } from '@ferry/shared';
import type { JWK } from 'jose';

const MAX_KEYS = 256;
const TTL_MS = 5 * 60_000;

/**
 * Epoch keys unwrapped in the last few minutes, by wrapped-key JWE, across requests: a viewer asks for
 * the frames of one series in hundreds of requests, and each would otherwise pay the ECDH unwrap.
 * Safe across groups because a caller reaches a wrapped key only through an object its group's
 * database row named; the lookup never lists or hands out keys by anything else.
 */
export class RecentEpochKeys {
  private readonly keys = new Map<string, { key: Promise<Buffer>; at: number }>();

  constructor(
    private readonly max = MAX_KEYS,
    private readonly ttlMs = TTL_MS,
  ) {}

  unwrap(wrappedKey: string, privateKeys: readonly JWK[]): Promise<Buffer> {
    const now = Date.now();
    const hit = this.keys.get(wrappedKey);
    if (hit && now - hit.at < this.ttlMs) return hit.key;
    this.keys.delete(wrappedKey);
    const key = unwrapDataKey(wrappedKey, privateKeys);
    key.catch(() => this.keys.delete(wrappedKey));
    while (this.keys.size >= this.max) {
      const oldest = this.keys.keys().next().value;
      if (oldest === undefined) break;
      this.keys.delete(oldest);
    }
    this.keys.set(wrappedKey, { key, at: now });
    return key;
  }
}
