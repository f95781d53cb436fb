/**
 * One pass over a sealed object's bytes, whether read back from the store or as they arrive in a PUT:
 * the ciphertext hashed and counted, every frame opened and authenticated, the plaintext hashed and
 * counted, the manifest kept and the header parsed. Nothing is judged here (verify-object.ts does).
 */
import { createHash } from 'node:crypto';
import { deriveObjectKey, isFerryError, type ObjectHeader, openObject } from '@ferry/shared';
import type { JWK } from 'jose';
import { HeaderPrefix, type ParsedHeader, parseDicomHeader } from '../dicom/dicom-json.js';
import type { EpochKeyCache } from '../storage/open-stored-object.js';
import type { HashingReader } from './hashing-reader.js';

/** The object reader gets chunks of at least this size, so a 1 MiB frame is not rebuilt from 64 KiB reads. */
const COALESCE_BYTES = 1 << 20;

/** Where verification finds its keys. */
export interface Keys {
  privateKeys: readonly JWK[];
  cache: EpochKeyCache;
}

/** What one pass over the bytes gave, before any check. */
export interface Opened {
  header: ObjectHeader | undefined;
  manifest: unknown;
  plainSha256: string;
  plainBytes: number;
  /** The header as parsed here (`{}` when unreadable, or when the object did not open). */
  head: Pick<ParsedHeader, 'metadata' | 'charset'>;
  /** Why the frames did not open, if they did not. */
  openError: unknown;
  objectSha256: string;
  objectBytes: number;
}

/**
 * Bytes tried first: a header nearly always ends (at the Pixel Data) well within them, and then the
 * rest of a large prefix (a whole CT slice) need not be copied for dcmjs. A header that goes on is
 * parsed again from the whole prefix.
 */
const FIRST_TRY_BYTES = 64 * 1024;

/** The header as parsed here; an unreadable one is stored as `{}` (and then has no UIDs to index). */
async function parsedHeader(prefix: HeaderPrefix): Promise<Pick<ParsedHeader, 'metadata' | 'charset'>> {
  try {
    const bytes = prefix.bytes();
    let parsed: ParsedHeader | undefined;
    if (bytes.length > FIRST_TRY_BYTES) {
      // Reaching the Pixel Data means the same elements were read as from the whole prefix.
      const first = await parseDicomHeader(bytes.subarray(0, FIRST_TRY_BYTES), { whole: false }).catch(
        () => undefined,
      );
      if (first?.complete) parsed = first;
    }
    parsed ??= await parseDicomHeader(bytes, { whole: prefix.whole });
    const { metadata, charset } = parsed;
    return charset ? { metadata, charset } : { metadata };
  } catch {
    return { metadata: {} };
  }
}

/**
 * Opens what `reader` yields, to its end. Memory stays at about one frame plus the header prefix,
 * whatever the object's size. Store failures (storage.unavailable) are thrown; any other failure to
 * open is kept as `openError`, and the rest is still hashed, so that a torn upload (retry) can be told
 * apart from a bad object (refused).
 */
export async function openFrom(reader: HashingReader, keys: Keys): Promise<Opened> {
  const plainHash = createHash('sha256');
  const o = { header: undefined as ObjectHeader | undefined, manifest: undefined as unknown, plainBytes: 0 };
  const prefix = new HeaderPrefix();
  let openError: unknown;
  try {
    for await (const part of openObject(reader.chunks(COALESCE_BYTES), async (h) => {
      o.header = h;
      return deriveObjectKey(await keys.cache.unwrap(h.wrappedKey, keys.privateKeys), h.objectId);
    })) {
      if (part.kind === 'manifest') o.manifest = part.manifest;
      else if (part.kind === 'data') {
        plainHash.update(part.bytes);
        o.plainBytes += part.bytes.length;
        prefix.push(part.bytes);
      }
    }
  } catch (err) {
    if (isFerryError(err, 'storage.unavailable')) throw err;
    openError = err;
    await reader.drain();
  }
  return {
    ...o,
    plainSha256: plainHash.digest('hex'),
    head: openError === undefined ? await parsedHeader(prefix) : { metadata: {} },
    openError,
    objectSha256: reader.hash.digest('hex'),
    objectBytes: reader.bytes,
  };
}
