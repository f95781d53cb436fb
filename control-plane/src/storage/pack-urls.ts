/**
 * Pack URLs, on either store: `${publicUrl}/blobs/packs/<packId>?len=&exp=&sig=`. A pack's bytes pass
 * through the control plane (it checks each member as it arrives and writes the pack as one blob), so
 * its URL is the control plane's own, signed like the fs store's part URLs: an HMAC-SHA256 over the
 * pack, its exact length and its deadline. The pack's layout is in the database, never in the URL.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import { assertExpiry, assertUploadId } from './blob-checks.js';
import type { PackUrlFields, PackUrls as PackUrlSigner } from './blob-store.js';

/** Not the part URLs' string: a part URL's signature never verifies as a pack's. */
const VERSION = 'ferry-pack-v1';
const INTEGER = /^[1-9][0-9]{0,15}$/;

function tampered(): FerryError {
  return new FerryError(
    'upload.url_invalid',
    'pack URL is not valid (altered, or for another pack); offer the objects again for a fresh one',
  );
}

export class PackUrls implements PackUrlSigner {
  private readonly publicUrl: string;

  constructor(
    publicUrl: string,
    private readonly secret: Uint8Array,
  ) {
    this.publicUrl = publicUrl.replace(/\/$/, '');
  }

  private mac(f: PackUrlFields): string {
    const text = [VERSION, f.packId, f.length, f.expiresAt].join('\n');
    return createHmac('sha256', this.secret).update(text).digest('base64url');
  }

  sign(packId: string, length: number, expiresInSeconds: number): string {
    assertUploadId(packId);
    assertExpiry(expiresInSeconds);
    const f = { packId, length, expiresAt: Math.floor(Date.now() / 1000) + expiresInSeconds };
    const query = new URLSearchParams({ len: String(length), exp: String(f.expiresAt), sig: this.mac(f) });
    return `${this.publicUrl}/blobs/packs/${packId}?${query}`;
  }

  /** Every field well-formed, the signature (constant time), then the deadline; else upload.url_invalid. */
  verify(
    req: { packId: string; query: Record<string, string | undefined> },
    nowMs: number = Date.now(),
  ): PackUrlFields {
    const { len, exp, sig } = req.query;
    if (len === undefined || !INTEGER.test(len) || exp === undefined || !INTEGER.test(exp) || !sig)
      throw tampered();
    try {
      assertUploadId(req.packId);
    } catch {
      throw tampered();
    }
    const fields = { packId: req.packId, length: Number(len), expiresAt: Number(exp) };
    const expected = Buffer.from(this.mac(fields));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw tampered();
    if (nowMs / 1000 > fields.expiresAt)
      throw new FerryError(
        'upload.url_invalid',
        `pack URL expired at ${new Date(fields.expiresAt * 1000).toISOString()}; offer the objects again`,
      );
    return fields;
  }
}
