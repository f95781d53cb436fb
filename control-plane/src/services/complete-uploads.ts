import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  deriveObjectKey,
  type ErrorCode,
  FerryError,
  type InstanceManifest,
  instanceManifestSchema,
  isFerryError,
  mapLimit,
  type ObjectHeader,
  openObject,
  type UploadCompleteRequest,
  type UploadCompleteResponse,
  type UploadCompleteResult,
  unwrapDataKey,
} from '@ferry/shared';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { Ctx } from '../context.js';
import { uploads } from '../db/schema/index.js';
import { type DicomJson, HeaderPrefix, parseDicomHeader } from '../dicom/dicom-json.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';
import { requireAgent } from './permissions.js';
import {
  checkRecordable,
  isRetryableRecordError,
  type RecordedInstance,
  type RecordInstanceInput,
  recordInstances,
} from '../ingest/record-instances.js';
import {
  handleOf,
  instanceKey,
  partLayout,
  receiptFor,
  STORE_CONCURRENCY,
  type StoredInstanceRef,
  storage,
  storedInstancesBySopAndHash,
  type UploadDeps,
  type UploadRow,
} from '../ingest/upload-store.js';

/**
 * Objects verified at once: each reads the store (waits), then hashes and decrypts (CPU). Small objects
 * spend most of their time waiting on the store, so more are in flight than there are cores.
 */
const VERIFY_CONCURRENCY = 8;
const RECORD_ATTEMPTS = 3;

/** Runs `fn` again when a concurrent record of the same instance or study got in the way. */
async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= RECORD_ATTEMPTS || !isRetryableRecordError(err)) throw err;
    }
  }
}
/** The object reader gets chunks of at least this size, so a 1 MiB frame is not rebuilt from 64 KiB reads. */
const COALESCE_BYTES = 1 << 20;

export interface CompleteUploadsDeps extends UploadDeps {
  /** AppDeps.recipientPrivateKeys: newest first. */
  recipientPrivateKeys: readonly JWK[];
}

type Outcome =
  | { kind: 'stored'; result: UploadCompleteResult }
  | { kind: 'retry'; code: ErrorCode; message: string; reset?: boolean }
  | { kind: 'refused'; code: ErrorCode; message: string };

class Verdict extends Error {
  constructor(readonly outcome: Exclude<Outcome, { kind: 'stored' }>) {
    super(outcome.message);
  }
}
const retry = (code: ErrorCode, message: string, reset = false) =>
  new Verdict({ kind: 'retry', code, message, reset });
const refuse = (message: string) => new Verdict({ kind: 'refused', code: 'upload.object_invalid', message });

/** Epoch keys unwrapped during this request: an agent wraps one per study or few minutes, not per object. */
class EpochKeys {
  private readonly keys = new Map<string, Promise<Buffer>>();
  constructor(private readonly privateKeys: readonly JWK[]) {}
  unwrap(wrapped: string): Promise<Buffer> {
    let key = this.keys.get(wrapped);
    if (!key) {
      key = unwrapDataKey(wrapped, [...this.privateKeys]);
      this.keys.set(wrapped, key);
    }
    return key;
  }
}

/** What reading, checking and opening a stored object gives. */
interface Verified {
  objectSha256: string;
  manifest: InstanceManifest;
  metadata: DicomJson;
}

/**
 * Publishes the upload at its key (unless a previous complete already did): joins a multipart
 * upload's parts, or moves a single PUT's staged object there. Missing parts are a retry: the upload
 * stays open. A single PUT is not looked up first: publishing finds it missing (a retry), and verify
 * reads it anyway (another size: a hash mismatch).
 */
async function assemble(blobStore: BlobStore, row: UploadRow): Promise<void> {
  const layout = partLayout(row.objectBytes, row.partBytes);
  const handle = handleOf(row);
  if (layout.length > 1) {
    const head = await storage('read an object size', () => blobStore.head(row.blobKey));
    if (head?.size === row.objectBytes) return;
    await assertPartsHeld(blobStore, handle, layout);
  }
  try {
    await storage('complete the upload', () =>
      blobStore.completeUpload(
        handle,
        layout.map((p) => ({ partNumber: p.partNumber, size: p.length })),
      ),
    );
  } catch (err) {
    if (isFerryError(err, 'upload.incomplete')) {
      throw retry(
        'upload.incomplete',
        layout.length === 1 ? 'the object has not arrived; send it, then complete again' : err.message,
      );
    }
    throw err;
  }
}

/** A retry naming the first missing part, unless the store holds every part of a multipart upload whole. */
async function assertPartsHeld(
  blobStore: BlobStore,
  handle: UploadHandle,
  layout: ReturnType<typeof partLayout>,
): Promise<void> {
  let held: Map<number, number>;
  try {
    held = new Map(
      (await storage('list uploaded parts', () => blobStore.listParts(handle))).map((p) => [
        p.partNumber,
        p.size,
      ]),
    );
  } catch (err) {
    if (isFerryError(err, 'upload.not_found')) {
      throw retry('upload.incomplete', 'the store no longer holds this upload; offer the object again', true);
    }
    throw err;
  }
  const missing = layout.filter((p) => held.get(p.partNumber) !== p.length);
  if (missing.length > 0) {
    throw retry(
      'upload.incomplete',
      `${missing.length} of ${layout.length} parts have not arrived (first: part ${missing[0]!.partNumber}); offer the object again to resume`,
    );
  }
}

/**
 * Reads a stored object once, hashing and counting every byte as it is pulled. `chunks()` hands them on
 * in pieces of at least `min` bytes; `drain()` pulls the rest straight from the source, so the hash is
 * whole even when the consumer gave up (or closed the generator) halfway. Store failures are
 * storage.unavailable.
 */
class HashingReader {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly it: AsyncIterator<unknown>;

  constructor(source: Readable) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<Buffer | undefined> {
    let next: IteratorResult<unknown>;
    try {
      next = await this.it.next();
    } catch (cause) {
      throw new FerryError('storage.unavailable', 'the blob store failed while reading an object', { cause });
    }
    if (next.done) return undefined;
    const chunk = next.value as Buffer;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return chunk;
  }

  async *chunks(min: number): AsyncGenerator<Buffer> {
    let parts: Buffer[] = [];
    let size = 0;
    for (let chunk = await this.pull(); chunk; chunk = await this.pull()) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= min) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        parts = [];
        size = 0;
      }
    }
    if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  async drain(): Promise<void> {
    while (await this.pull()) {
      // hashed and counted by pull
    }
  }
}

/**
 * Streams the stored object once: SHA-256 of the ciphertext (must equal the agent's), then the frames
 * opened and authenticated, the plaintext hashed (must equal the offer) and its first bytes parsed for
 * the header. Memory stays at about one frame plus the header prefix, whatever the object's size.
 */
async function verify(
  blobStore: BlobStore,
  keys: EpochKeys,
  row: UploadRow,
  claimedObjectSha256: string,
): Promise<Verified> {
  const source = await storage('read the object', () => blobStore.get(row.blobKey)).catch((err: unknown) => {
    if (isFerryError(err, 'resource.not_found'))
      throw retry('upload.incomplete', 'the object has not arrived; send it, then complete again');
    throw err;
  });
  const reader = new HashingReader(source);
  const plainHash = createHash('sha256');
  let plainBytes = 0;
  const prefix = new HeaderPrefix();
  let header: ObjectHeader | undefined;
  let manifest: unknown;
  let openError: unknown;
  try {
    for await (const part of openObject(reader.chunks(COALESCE_BYTES), async (h) => {
      header = h;
      return deriveObjectKey(await keys.unwrap(h.wrappedKey), h.objectId);
    })) {
      if (part.kind === 'manifest') manifest = part.manifest;
      else if (part.kind === 'data') {
        plainHash.update(part.bytes);
        plainBytes += part.bytes.length;
        prefix.push(part.bytes);
      }
    }
  } catch (err) {
    if (isFerryError(err, 'storage.unavailable')) throw err;
    openError = err;
    // Hash the rest: a torn upload (retry) must be told apart from a bad object (refused).
    await reader.drain();
  } finally {
    source.destroy();
  }

  const objectSha256 = reader.hash.digest('hex');
  if (reader.bytes !== row.objectBytes || objectSha256 !== claimedObjectSha256) {
    throw retry(
      'upload.hash_mismatch',
      `the stored object (${reader.bytes} bytes) does not hash to what the agent sent; offer it again to re-send`,
      true,
    );
  }
  if (openError !== undefined) {
    const reason = openError instanceof FerryError ? openError.message : 'it cannot be opened';
    throw refuse(`the object does not open: ${reason}`);
  }
  if (header?.objectId !== row.objectId) throw refuse('the object was sealed for another object id');
  const parsedManifest = instanceManifestSchema.safeParse(manifest);
  if (!parsedManifest.success) throw refuse('the object has no valid manifest');
  if (parsedManifest.data.sopInstanceUid !== row.sopInstanceUid) {
    throw refuse('the manifest names another SOP Instance UID than the offer');
  }
  if (plainBytes !== row.plainBytes || plainHash.digest('hex') !== row.sha256) {
    throw refuse('the decrypted content does not match the offered size and SHA-256');
  }
  let metadata: DicomJson = {};
  try {
    const parsed = await parseDicomHeader(prefix.bytes(), { whole: prefix.whole });
    metadata = parsed.metadata;
  } catch {
    // Stored as received all the same; the manifest carries what the worklist needs.
  }
  return { objectSha256, manifest: parsedManifest.data, metadata };
}

/**
 * Forgets an upload whose bytes are wrong or gone, so the next offer starts a fresh one. The row goes
 * first, and only while open: a concurrent complete of the same upload that stored it (and gave its
 * receipt) keeps its object. A blob left behind by a failed delete is verified again before any later
 * receipt, so it is never trusted.
 */
async function resetUpload(ctx: Ctx, blobStore: BlobStore, row: UploadRow): Promise<void> {
  const dropped = await ctx.db
    .delete(uploads)
    .where(and(eq(uploads.id, row.id), eq(uploads.state, 'open')))
    .returning({ id: uploads.id });
  if (dropped.length === 0) return;
  await storage('abort an upload', () => blobStore.abortUpload(handleOf(row))).catch(() => {});
  await storage('delete an object', () => blobStore.delete(row.blobKey)).catch(() => {});
}

/**
 * Verified objects recorded per transaction: one commit, one turn at each study's lock and a handful
 * of statements for all of them (recordInstances), short enough not to hold a study's lock for long.
 */
const RECORD_BATCH = 200;

type CompleteItem = UploadCompleteRequest['objects'][number];

/** An object that passed verification and waits for its index write. */
interface Prepared {
  index: number;
  o: CompleteItem;
  row: UploadRow;
  verified: Verified;
  /** What recordInstances gets, but for storedAt (set when its batch is written). */
  record: Omit<RecordInstanceInput, 'storedAt'>;
}

/** Studies in one order for every request, so concurrent batches take their locks alike. */
const studyOrder = (a: Prepared, b: Prepared) => {
  const x = a.verified.manifest.study.instanceUid ?? '';
  const y = b.verified.manifest.study.instanceUid ?? '';
  return x < y ? -1 : x > y ? 1 : a.index - b.index;
};

/**
 * The agent says every part of these objects is sent. Each is assembled and verified (ciphertext hash,
 * every GCM frame, plaintext hash and size, manifest, DICOM header), a few at a time; the verified ones
 * are then recorded in batches, each batch one transaction that marks its uploads stored and records
 * their instances (so many small instances share a commit). The answer per object is `stored` with a
 * receipt, `retry` (parts missing, torn upload, storage down: offer it again) or `refused` (the object
 * itself is bad).
 */
export async function completeUploads({
  ctx,
  input,
  deps,
}: {
  ctx: Ctx;
  input: UploadCompleteRequest;
  deps: CompleteUploadsDeps;
}): Promise<UploadCompleteResponse> {
  const agent = requireAgent(ctx.actor);
  const { blobStore } = deps;
  const keys = new EpochKeys(deps.recipientPrivateKeys);
  const ids = [...new Set(input.objects.map((o) => o.uploadId))];
  const rows = await ctx.db
    .select()
    .from(uploads)
    .where(and(eq(uploads.groupId, agent.groupId), inArray(uploads.id, ids)));
  const rowOf = new Map(rows.map((r) => [r.id, r]));
  const stored = await storedInstancesBySopAndHash(
    ctx.db,
    agent.groupId,
    rows.filter((r) => r.state === 'stored').map((r) => r.sopInstanceUid),
  );
  const results: UploadCompleteResult[] = new Array(input.objects.length);
  const claimed = new Set<string>();

  /** Turns a failure into the object's answer (forgetting the upload where a re-send must start over). */
  const settle = async (o: CompleteItem, row: UploadRow, err: unknown): Promise<UploadCompleteResult> => {
    let outcome: Exclude<Outcome, { kind: 'stored' }>;
    if (err instanceof Verdict) outcome = err.outcome;
    else if (isFerryError(err, 'storage.unavailable')) {
      outcome = { kind: 'retry', code: 'storage.unavailable', message: err.message };
    } else if (isFerryError(err, 'upload.object_invalid')) {
      outcome = { kind: 'refused', code: 'upload.object_invalid', message: err.message };
    } else {
      throw err;
    }
    if ((outcome.kind === 'retry' && outcome.reset) || outcome.kind === 'refused') {
      await resetUpload(ctx, blobStore, row);
    }
    ctx.log.debug(
      { event: `upload.${outcome.kind}`, objectId: row.objectId, uploadId: row.id, code: outcome.code },
      `upload ${outcome.kind}`,
    );
    return { objectId: o.objectId, status: outcome.kind, code: outcome.code, message: outcome.message };
  };

  const prepare = async (o: CompleteItem, index: number): Promise<Prepared | undefined> => {
    const row = rowOf.get(o.uploadId);
    if (!row || row.objectId !== o.objectId) {
      results[index] = {
        objectId: o.objectId,
        status: 'refused',
        code: 'upload.not_found',
        message: 'no such upload for this object in your group; offer the object again',
      };
      return undefined;
    }
    if (claimed.has(row.id)) {
      results[index] = {
        objectId: o.objectId,
        status: 'retry',
        code: 'upload.incomplete',
        message: 'completed twice in one request',
      };
      return undefined;
    }
    claimed.add(row.id);
    if (row.state === 'stored') {
      const hit = stored.get(instanceKey(row.sopInstanceUid, row.sha256));
      results[index] = hit
        ? { objectId: o.objectId, status: 'stored', receipt: receiptFor(o.objectId, hit, row.objectSha256) }
        : {
            objectId: o.objectId,
            status: 'retry',
            code: 'upload.incomplete',
            message: 'offer the object again',
          };
      return undefined;
    }
    try {
      await assemble(blobStore, row);
      const verified = await verify(blobStore, keys, row, o.objectSha256);
      const record = {
        groupId: agent.groupId,
        facilityId: agent.facilityId,
        gatewayId: agent.gatewayId,
        objectId: row.objectId,
        blobKey: row.blobKey,
        manifest: verified.manifest,
        metadata: verified.metadata,
        sha256: row.sha256,
        objectSha256: verified.objectSha256,
        plainBytes: row.plainBytes,
        objectBytes: row.objectBytes,
      };
      // Refused here (no Study Instance UID, say) rather than failing its batch's transaction.
      checkRecordable({ ...record, storedAt: new Date() });
      return { index, o, row, verified, record };
    } catch (err) {
      results[index] = await settle(o, row, err);
      return undefined;
    }
  };

  /**
   * One transaction: mark the batch's uploads stored (one statement) and record their instances
   * (recordInstances). Undefined where another complete of the same upload won.
   */
  const recordAll = (batch: Prepared[], storedAt: Date) =>
    ctx.db.transaction(async (tx) => {
      const marked = await tx
        .update(uploads)
        .set({
          state: 'stored',
          completedAt: storedAt,
          objectSha256: sql`case ${uploads.id} ${sql.join(
            batch.map((p) => sql`when ${p.row.id}::uuid then ${p.verified.objectSha256}`),
            sql` `,
          )} end`,
        })
        .where(
          and(
            inArray(
              uploads.id,
              batch.map((p) => p.row.id),
            ),
            eq(uploads.state, 'open'),
          ),
        )
        .returning({ id: uploads.id });
      const won = new Set(marked.map((m) => m.id));
      const mine = batch.filter((p) => won.has(p.row.id));
      const recorded = await recordInstances({
        ctx,
        tx,
        input: mine.map((p) => ({ ...p.record, storedAt })),
      });
      const byUpload = new Map(mine.map((p, k) => [p.row.id, recorded[k]]));
      return batch.map((p) => byUpload.get(p.row.id));
    });

  /** The answers for a recorded batch: lookups for the ones another complete took, in one query. */
  const answerAll = async (batch: Prepared[], recorded: (RecordedInstance | undefined)[]) => {
    const lost = batch.filter((_, k) => !recorded[k]);
    const again =
      lost.length > 0
        ? await storedInstancesBySopAndHash(
            ctx.db,
            agent.groupId,
            lost.map((p) => p.row.sopInstanceUid),
          )
        : new Map();
    await mapLimit([...batch.entries()], STORE_CONCURRENCY, async ([k, p]) => {
      results[p.index] = await answer(p, recorded[k], again);
    });
  };

  const answer = async (
    p: Prepared,
    recorded: RecordedInstance | undefined,
    again: Map<string, StoredInstanceRef>,
  ): Promise<UploadCompleteResult> => {
    const { o, row, verified } = p;
    if (!recorded) {
      const hit = again.get(instanceKey(row.sopInstanceUid, row.sha256));
      if (hit) {
        return {
          objectId: o.objectId,
          status: 'stored',
          receipt: receiptFor(o.objectId, hit, verified.objectSha256),
        };
      }
      return {
        objectId: o.objectId,
        status: 'retry',
        code: 'upload.incomplete',
        message: 'a concurrent complete of this upload did not finish; offer it again',
      };
    }
    if (recorded.receipt.duplicate) {
      // The group holds these exact bytes under another object: this copy is not referenced.
      await storage('delete an object', () => blobStore.delete(row.blobKey)).catch(() => {});
    }
    ctx.log.debug(
      {
        event: 'upload.stored',
        objectId: row.objectId,
        uploadId: row.id,
        instanceId: recorded.instanceId,
        studyId: recorded.studyId,
        version: recorded.version,
        duplicate: recorded.receipt.duplicate,
      },
      'upload stored',
    );
    // A duplicate's receipt names this object's verified hash, not the copy the group keeps.
    return {
      objectId: o.objectId,
      status: 'stored',
      receipt: { ...recorded.receipt, objectSha256: verified.objectSha256 },
    };
  };

  const prepared = (
    await mapLimit(
      input.objects.map((o, i) => [o, i] as const),
      VERIFY_CONCURRENCY,
      ([o, i]) => prepare(o, i),
    )
  ).filter((p): p is Prepared => p !== undefined);
  prepared.sort(studyOrder);

  for (let at = 0; at < prepared.length; at += RECORD_BATCH) {
    const batch = prepared.slice(at, at + RECORD_BATCH);
    let recorded: (RecordedInstance | undefined)[] | undefined;
    try {
      recorded = await withRetries(() => recordAll(batch, new Date()));
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      // An object the checks above let through failed the batch: record them one by one.
      for (const p of batch) {
        try {
          await answerAll([p], await withRetries(() => recordAll([p], new Date())));
        } catch (e) {
          results[p.index] = await settle(p.o, p.row, e);
        }
      }
      continue;
    }
    await answerAll(batch, recorded);
  }
  return { objects: results };
}
