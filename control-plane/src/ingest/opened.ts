/**
 * One pass over a sealed object's bytes, whether read back from the store or as they arrive in a PUT:
 * the ciphertext hashed and counted, every frame opened and authenticated, the plaintext hashed and
 * counted, the manifest kept and the header parsed. Nothing is judged here (verify-object.ts does).
 */
import { createHash } from 'node:crypto';
import {
  deriveObjectKey,
  isFerryError,
  type ObjectHeader,
  openObject,
  readableCompression,
  type TransportCoding,
  TransportTally,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { HeaderPrefix, type ParsedHeader, parseDicomHeader } from '../dicom/dicom-json.js';
import '../storage/jpegls-wasm.js';
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
  /** How the data frames were coded; undefined when the object did not open. */
  transport: TransportCoding | undefined;
  objectSha256: string;
  objectBytes: number;
}

/**
 * Bytes of the plaintext parsed first: a header nearly always ends (at the Pixel Data) well within
 * them, and then the rest of the object (a whole CT slice) is neither kept nor copied for dcmjs.
 */
const FIRST_TRY_BYTES = 64 * 1024;

/**
 * The header of the plaintext pushed through it, parsed here. The first FIRST_TRY_BYTES are parsed as
 * soon as they are in; when that parse reaches the Pixel Data it read the same elements a parse of the
 * whole prefix would, and nothing more is kept. Otherwise the prefix is kept (up to HEADER_CAP_BYTES)
 * and parsed at the end, as before.
 */
class HeaderBytes {
  private readonly prefix = new HeaderPrefix();
  private kept = 0;
  private tried = false;
  private early: ParsedHeader | undefined;

  async push(bytes: Buffer): Promise<void> {
    if (this.early) return;
    if (this.tried) {
      this.prefix.push(bytes);
      return;
    }
    const take = Math.min(bytes.length, FIRST_TRY_BYTES - this.kept);
    this.prefix.push(bytes.subarray(0, take));
    this.kept += take;
    if (this.kept < FIRST_TRY_BYTES) return;
    this.tried = true;
    const first = await parseDicomHeader(this.prefix.bytes(), { whole: false }).catch(() => undefined);
    if (first?.complete) this.early = first;
    else this.prefix.push(bytes.subarray(take));
  }

  /** The header; an unreadable one is `{}` (and then has no UIDs to index). */
  async parsed(): Promise<Pick<ParsedHeader, 'metadata' | 'charset'>> {
    try {
      const { metadata, charset } =
        this.early ?? (await parseDicomHeader(this.prefix.bytes(), { whole: this.prefix.whole }));
      return charset ? { metadata, charset } : { metadata };
    } catch {
      return { metadata: {} };
    }
  }
}

/** What opening gives, besides the ciphertext's hash and size (which the caller counts). */
type OpenedPlain = Omit<Opened, 'objectSha256' | 'objectBytes'>;

/**
 * Opens the object `source` yields, to its end; `drain` pulls what the opener left unread, so the
 * ciphertext's hash is whole even when it gave up.
 */
async function openPlain(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  keys: Keys,
  drain: () => Promise<void>,
): Promise<OpenedPlain> {
  const plainHash = createHash('sha256');
  const o = { header: undefined as ObjectHeader | undefined, manifest: undefined as unknown, plainBytes: 0 };
  const head = new HeaderBytes();
  const tally = new TransportTally();
  let openError: unknown;
  try {
    for await (const part of openObject(source, async (h) => {
      o.header = h;
      return deriveObjectKey(await keys.cache.unwrap(h.wrappedKey, keys.privateKeys), h.objectId);
    })) {
      if (part.kind === 'manifest') o.manifest = part.manifest;
      else if (part.kind === 'data') {
        plainHash.update(part.bytes);
        o.plainBytes += part.bytes.length;
        tally.add(part.codec, part.bytes.length);
        await head.push(part.bytes);
      }
    }
  } catch (err) {
    if (isFerryError(err, 'storage.unavailable')) throw err;
    openError = err;
    await drain();
  }
  return {
    ...o,
    plainSha256: plainHash.digest('hex'),
    head: openError === undefined ? await head.parsed() : { metadata: {} },
    openError,
    // The header opened (else openError is set), so its compression is one openObject reads.
    transport: openError === undefined && o.header ? tally.summary(readableCompression(o.header)) : undefined,
  };
}

/**
 * Opens what `reader` yields, to its end. Memory stays at about one frame plus the header prefix,
 * whatever the object's size. Store failures (storage.unavailable) are thrown; any other failure to
 * open is kept as `openError`, and the rest is still hashed, so that a torn upload (retry) can be told
 * apart from a bad object (refused).
 */
export async function openFrom(reader: HashingReader, keys: Keys): Promise<Opened> {
  const opened = await openPlain(reader.chunks(COALESCE_BYTES), keys, () => reader.drain());
  return { ...opened, objectSha256: reader.hash.digest('hex'), objectBytes: reader.bytes };
}

/**
 * The same pass over an object already whole in memory (a pack member): hashed in one call and opened
 * without the stream machinery a read needs (a small object's check is mostly that machinery).
 */
export async function openBytes(bytes: Buffer, keys: Keys): Promise<Opened> {
  const objectSha256 = createHash('sha256').update(bytes).digest('hex');
  const opened = await openPlain([bytes], keys, async () => {});
  return { ...opened, objectSha256, objectBytes: bytes.length };
}
