/**
 * Part URLs of the fs store: `${publicUrl}/blobs/uploads/<uploadId>/parts/<partNumber>?len=&key=&single=&exp=&sig=`.
 * The agent sends no other credentials, so the URL itself is the capability: an HMAC-SHA256 over every
 * field binds the bytes to one key, one part, one length and one deadline.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import type { Db } from '../db/client.js';
import type { SecretBox } from '../keys/secret-box.js';
import { loadSharedSecret } from '../keys/shared-secret.js';
import { assertBlobKey, assertPart, assertUploadId } from './blob-checks.js';

const SECRET_SETTING = 'blob_signing_secret';
/** Bumped if the signed string changes, so old URLs stop verifying instead of meaning something else. */
const VERSION = 'ferry-part-v1';

export interface PartUrlFields {
  uploadId: string;
  partNumber: number;
  /** Exact byte count of the PUT body. */
  length: number;
  key: string;
  /** True when this one PUT is the whole object (no multipart upload exists). */
  single: boolean;
  /** Unix seconds; the URL is refused after this. */
  expiresAt: number;
}

/** The HMAC key for part URLs, shared by every replica through the database, sealed like the session secret. */
export function loadBlobSigningSecret(db: Db, box: SecretBox): Promise<Uint8Array> {
  return loadSharedSecret(db, box, SECRET_SETTING);
}

function mac(secret: Uint8Array, f: PartUrlFields): Buffer {
  // Newline-separated: no field can hold a newline (keys and ids are validated), so no two field sets
  // produce the same string.
  const text = [VERSION, f.uploadId, f.partNumber, f.length, f.key, f.single ? '1' : '0', f.expiresAt].join(
    '\n',
  );
  return createHmac('sha256', secret).update(text).digest();
}

export function buildPartUrl(publicUrl: string, secret: Uint8Array, f: PartUrlFields): string {
  assertUploadId(f.uploadId);
  assertBlobKey(f.key);
  assertPart(f);
  const query = new URLSearchParams({
    len: String(f.length),
    key: f.key,
    single: f.single ? '1' : '0',
    exp: String(f.expiresAt),
    sig: mac(secret, f).toString('base64url'),
  });
  return `${publicUrl}/blobs/uploads/${f.uploadId}/parts/${f.partNumber}?${query}`;
}

const INTEGER = /^[1-9][0-9]{0,15}$/;

function tampered(): FerryError {
  return new FerryError(
    'upload.url_invalid',
    'upload URL is not valid (altered, or for another part); offer the object again for fresh URLs',
  );
}

/**
 * Checks a part PUT: every field present and well-formed, the signature (constant time), then the
 * deadline. The signature comes first so that an altered `exp` reads as tampering, not as expiry.
 */
export function verifyPartRequest(
  secret: Uint8Array,
  req: { uploadId: string; partNumber: string; query: Record<string, string | undefined> },
  nowMs: number = Date.now(),
): PartUrlFields {
  const { len, key, single, exp, sig } = req.query;
  if (
    !INTEGER.test(req.partNumber) ||
    len === undefined ||
    !INTEGER.test(len) ||
    exp === undefined ||
    !INTEGER.test(exp) ||
    (single !== '0' && single !== '1') ||
    key === undefined ||
    sig === undefined
  )
    throw tampered();
  const fields: PartUrlFields = {
    uploadId: req.uploadId,
    partNumber: Number(req.partNumber),
    length: Number(len),
    key,
    single: single === '1',
    expiresAt: Number(exp),
  };
  try {
    assertUploadId(fields.uploadId);
    assertBlobKey(fields.key);
    assertPart(fields);
  } catch {
    throw tampered();
  }
  // Compared as text, so no other spelling of the same bytes (padding, stray characters) passes.
  const expected = Buffer.from(mac(secret, fields).toString('base64url'));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw tampered();
  if (nowMs / 1000 > fields.expiresAt)
    throw new FerryError(
      'upload.url_invalid',
      `upload URL expired at ${new Date(fields.expiresAt * 1000).toISOString()}; offer the object again for fresh URLs`,
    );
  return fields;
}
