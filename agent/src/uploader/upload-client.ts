import { createHash, type Hash } from 'node:crypto';
import { pipeline, type Readable, Transform } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import {
  apiErrorBodySchema,
  ERROR_CODES,
  type ErrorCode,
  FerryError,
  type UploadCompleteRequest,
  type UploadCompleteResult,
  type UploadOfferObject,
  type UploadOfferResponse,
  type UploadOfferResult,
} from '@ferry/shared';
import { type Dispatcher, request } from 'undici';
import type { ControlPlaneClient } from '../cloud/client.js';
import { releaseBuffers } from '../spool/buffer-release.js';
import { type TokenBucket, throttle } from './throttle.js';

/** A PUT whose server stops reading or answering for this long is abandoned (undici's default is 5 min). */
const PUT_STALL_MS = 30_000;
/**
 * An offer writes a few rows and signs URLs: the control plane answers within a second or two. One
 * still unanswered after this went into a connection that is gone without a word (a black hole, a
 * middlebox that forgot it), and waiting for the client's long timeout would stall every upload.
 */
export const OFFER_TIMEOUT_MS = 30_000;
/** A complete is answered once the control plane has read back and verified the batch: this much, */
const COMPLETE_FLOOR_MS = 30_000;
/** plus the batch at this read-back rate (a full 256 MiB batch gets about two minutes). */
const VERIFY_BYTES_PER_SECOND = 3 << 20;

/** How long a complete of `bytes` sealed bytes may take before it is given up (and retried). */
export function completeTimeoutMs(bytes: number, floorMs = COMPLETE_FLOOR_MS): number {
  return floorMs + Math.ceil((Math.max(0, bytes) * 1000) / VERIFY_BYTES_PER_SECOND);
}

/** What the uploader needs from the control plane and the part URLs; a seam for tests. */
export interface UploadApi {
  offer(objects: UploadOfferObject[], signal?: AbortSignal): Promise<UploadOfferResult[]>;
  /** An offer that accepts packs (small objects answered `packed`, sent together); optional for fakes. */
  offerPacked?(objects: UploadOfferObject[], signal?: AbortSignal): Promise<UploadOfferResponse>;
  /** `verifyBytes`: the sealed bytes the control plane reads back to verify; its wait grows with them. */
  complete(
    objects: UploadCompleteRequest['objects'],
    signal?: AbortSignal,
    verifyBytes?: number,
  ): Promise<UploadCompleteResult[]>;
  /** PUTs exactly `length` bytes from `body` to a presigned part URL. */
  putPart(url: string, body: Readable, length: number, signal: AbortSignal): Promise<void>;
}

/**
 * The upload API over the agent's ControlPlaneClient (agent JWTs, Ferry error bodies, zod-checked
 * answers) plus part PUTs with undici: an explicit Content-Length and a streamed body, no other
 * credentials, the same for S3 presigned URLs and the control plane's own fs part URLs.
 */
export class UploadClient implements UploadApi {
  constructor(
    private readonly control: ControlPlaneClient,
    private readonly opts: {
      dispatcher?: Dispatcher;
      stallMs?: number;
      offerTimeoutMs?: number;
      completeFloorMs?: number;
    } = {},
  ) {}

  // Each call gets a deadline of its own: the client's timeout is sized for the slowest call there is.
  async offer(objects: UploadOfferObject[], signal?: AbortSignal): Promise<UploadOfferResult[]> {
    const timeoutMs = this.opts.offerTimeoutMs ?? OFFER_TIMEOUT_MS;
    return (await this.control.offerUploads({ objects }, signal, timeoutMs)).objects;
  }

  offerPacked(objects: UploadOfferObject[], signal?: AbortSignal): Promise<UploadOfferResponse> {
    const timeoutMs = this.opts.offerTimeoutMs ?? OFFER_TIMEOUT_MS;
    return this.control.offerUploads({ objects, acceptPacks: true }, signal, timeoutMs);
  }

  async complete(
    objects: UploadCompleteRequest['objects'],
    signal?: AbortSignal,
    verifyBytes?: number,
  ): Promise<UploadCompleteResult[]> {
    const timeoutMs =
      verifyBytes === undefined ? undefined : completeTimeoutMs(verifyBytes, this.opts.completeFloorMs);
    return (await this.control.completeUploads({ objects }, signal, timeoutMs)).objects;
  }

  async putPart(url: string, body: Readable, length: number, signal: AbortSignal): Promise<void> {
    const stallMs = this.opts.stallMs ?? PUT_STALL_MS;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'PUT',
        headers: { 'content-length': String(length) },
        body,
        signal,
        // While the body is written this fires only when the socket stops draining, so it catches a
        // peer that stopped reading without cutting short a slow, throttled upload.
        headersTimeout: stallMs,
        bodyTimeout: stallMs,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
    } catch (cause) {
      body.destroy();
      if (signal.aborted) throw cause;
      throw new FerryError('storage.unavailable', `part upload failed: ${describe(cause)}`, { cause });
    }
    const text = await res.body.text().catch(() => '');
    if (res.statusCode >= 200 && res.statusCode < 300) return;
    // A server may answer before reading the whole body: close the file range either way.
    body.destroy();
    throw partError(res.statusCode, text);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** A failed part PUT as a FerryError: the server's Ferry code when it sent one, else by status. */
export function partError(status: number, text: string): FerryError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const body = apiErrorBodySchema.safeParse(json);
  const details = { status };
  if (body.success && Object.hasOwn(ERROR_CODES, body.data.error.code)) {
    const { code, message } = body.data.error;
    return new FerryError(code as ErrorCode, `part upload refused: ${message}`, { details });
  }
  const code: ErrorCode =
    status >= 500 || status === 408 || status === 429
      ? 'storage.unavailable'
      : status === 403
        ? 'upload.url_invalid'
        : status === 404
          ? 'upload.not_found'
          : 'request.invalid';
  return new FerryError(code, `part upload failed with HTTP ${status}`, { details });
}

/** A pass-through that feeds every byte into `hash` and keeps each chunk in `read`. */
function hashing(hash: Hash, read: Buffer[] | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      read?.push(chunk);
      cb(null, chunk);
    },
  });
}

/**
 * The body of a part PUT: `source` (a byte range of the sealed object) hashed into `hash` on the way
 * and metered by `bucket`. Errors on either side tear the whole chain down. Each chunk read from
 * `source` is pushed onto `read`, for releaseSent once the PUT is answered.
 */
export function partBody(
  source: Readable,
  hash: Hash,
  bucket: TokenBucket | undefined,
  read?: Buffer[],
): Readable {
  // The callback form returns the last stream; whoever reads it (undici) sees any error upstream,
  // and destroying it (an aborted request) closes the file too.
  return pipeline(source, hashing(hash, read), throttle(bucket), () => undefined);
}

/**
 * Gives back the memory of the chunks of a part PUT the server has answered with success. Each is a
 * 1 MiB read of its own; left to the collector, they pile up to 64 MiB between full collections (as
 * received chunks did, spool/buffer-release.ts). Never earlier than the answer: a chunk freed while
 * the socket may still write it would put freed memory on the wire. A 2xx answer to a PUT with a
 * Content-Length comes once the server has read every byte, so every write of them has returned (and
 * a server that answers early has its socket destroyed by undici before this runs).
 */
export function releaseSent(read: Buffer[]): void {
  releaseBuffers(read);
  read.length = 0;
}

/** Feeds a byte range into `hash` without sending it (a part the control plane already holds). */
export async function hashOnly(source: Readable, hash: Hash): Promise<void> {
  await pipelineAsync(source, async (chunks: AsyncIterable<Buffer>) => {
    for await (const c of chunks) {
      hash.update(c);
      // Read, hashed and sent nowhere: nothing else holds it.
      releaseBuffers([c]);
    }
  });
}

export function newObjectHash(): Hash {
  return createHash('sha256');
}
