import type { ReadStream } from 'node:fs';
import { FerryError, type UploadOfferResult } from '@ferry/shared';
import type { IndexEntry, SpoolConsumer } from '../spool/consumer.js';
import type { UploadCaps } from './caps.js';
import type { Completer } from './completer.js';
import type { Delivery } from './deliver.js';
import type { Failures } from './failures.js';
import { orderedParts } from './offer.js';
import type { TokenBucket } from './throttle.js';
import { hashOnly, newObjectHash, partBody, releaseSent, type UploadApi } from './upload-client.js';
import type { UploadTally } from './uploader-stats.js';

/** Part URLs are not used this close to their expiry: offer again for fresh ones. */
const EXPIRY_MARGIN_MS = 30_000;

export type UploadTarget = Extract<UploadOfferResult, { status: 'upload' }>;

type SealedReader = Pick<SpoolConsumer, 'readSealedRange' | 'readFailure'>;

export type SendOutcome =
  | { ok: true; objectSha256: string; sentBytes: number }
  /** `putRefused`: the failure was a part PUT's answer, not the spool or the network. */
  | { ok: false; error: unknown; putRefused: boolean; sentBytes: number };

/** A byte range of the sealed object; a local read failure is told apart from a network one. */
export function range(spool: SealedReader, e: IndexEntry, start: number, end: number) {
  const stream: ReadStream = spool.readSealedRange(e.id, start, end);
  let local: FerryError | undefined;
  stream.once('error', (err) => {
    local = spool.readFailure(e.id, err);
  });
  return { stream, error: () => local };
}

/**
 * PUTs the parts the control plane does not hold yet, in order, and hashes the whole sealed object
 * on the way: parts it already holds are read and hashed locally, not sent.
 */
export async function sendParts(opts: {
  spool: SealedReader;
  api: Pick<UploadApi, 'putPart'>;
  bucket: TokenBucket | undefined;
  entry: IndexEntry;
  target: UploadTarget;
  signal: AbortSignal;
}): Promise<SendOutcome> {
  const { spool, api, entry: e, target } = opts;
  let sentBytes = 0;
  try {
    const hash = newObjectHash();
    const expiresAt = Date.parse(target.expiresAt);
    for (const p of orderedParts(target.parts, e.objectBytes)) {
      const src = range(spool, e, p.offset, p.offset + p.length);
      if (p.done) {
        await hashOnly(src.stream, hash).catch((err: unknown) => {
          throw src.error() ?? err;
        });
        continue;
      }
      if (Date.now() > expiresAt - EXPIRY_MARGIN_MS) {
        src.stream.destroy();
        throw new FerryError('upload.url_invalid', 'part URLs expire before this part is sent', {
          details: { expired: true },
        });
      }
      const read: Buffer[] = [];
      try {
        await api.putPart(p.url!, partBody(src.stream, hash, opts.bucket, read), p.length, opts.signal);
      } catch (err) {
        // Unanswered or refused: the socket may still hold a chunk, so the collector frees them.
        const local = src.error();
        return { ok: false, error: local ?? err, putRefused: local === undefined, sentBytes };
      }
      releaseSent(read);
      sentBytes += p.length;
    }
    return { ok: true, objectSha256: hash.digest('hex'), sentBytes };
  } catch (error) {
    return { ok: false, error, putRefused: false, sentBytes };
  }
}

export interface SendDeps {
  spool: Pick<SpoolConsumer, 'mark' | 'readSealedRange' | 'readFailure' | 'openObjectReader'>;
  /** Part and pack PUTs (timed for the link estimate: link-meter.ts). */
  api: Pick<UploadApi, 'putPart'>;
  caps: UploadCaps;
  completer: Completer;
  delivery: Delivery;
  failures: Failures;
  tally: UploadTally;
  /** The current stop signal: a stopping uploader abandons what is in flight. */
  signal: () => AbortSignal;
  /** Holds work that outlives its batch (a receipt awaited after the parts went) until it settles. */
  track: (e: IndexEntry, work: Promise<void>) => void;
}

/**
 * Sends the parts not held yet (in its lane), then asks for the receipt. Resolves once the parts are
 * sent: the receipt is awaited apart (`deps.track`), so the next batch is offered and sent while the
 * control plane verifies this one, instead of every batch slot waiting on a complete call.
 */
export async function sendObject(deps: SendDeps, e: IndexEntry, target: UploadTarget): Promise<void> {
  let release: () => void;
  try {
    release = await deps.caps.lane(e.objectBytes).acquire(deps.signal());
  } catch (err) {
    return deps.failures.failed(e, err, false);
  }
  let sent: SendOutcome;
  try {
    // 'uploading' marks an object that may be partly in the cloud; a one-PUT object never is.
    if (target.parts.length > 1 && e.state === 'spooled') await deps.spool.mark(e.id, 'uploading');
    sent = await sendParts({
      spool: deps.spool,
      api: deps.api,
      bucket: deps.caps.bucket,
      entry: e,
      target,
      signal: deps.signal(),
    });
  } catch (err) {
    sent = { ok: false, error: err, putRefused: false, sentBytes: 0 };
  } finally {
    release();
  }
  deps.tally.sent(sent.sentBytes);
  if (!sent.ok) return deps.failures.failed(e, sent.error, sent.putRefused);
  deps.track(e, receive(deps, e, target.uploadId, sent.objectSha256));
}

/** Asks for the object's receipt and settles it by the answer. */
export async function receive(
  deps: SendDeps,
  e: IndexEntry,
  uploadId: string,
  objectSha256: string,
): Promise<void> {
  try {
    const r = await deps.completer.complete({ objectId: e.id, uploadId, objectSha256 }, e.objectBytes);
    if (r.status === 'stored') await deps.delivery.deliver(e, r.receipt, objectSha256);
    else if (r.status === 'refused') await deps.failures.quarantine(e, r.code, r.message);
    else deps.failures.retryLater(e, new FerryError('upload.incomplete', `${r.code}: ${r.message}`));
  } catch (err) {
    await deps.failures.failed(e, err, false);
  }
}
