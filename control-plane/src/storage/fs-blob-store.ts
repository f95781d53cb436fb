/**
 * The embedded blob store: a directory (FERRY_DATA_DIR/blobs) on one machine. The control plane itself
 * accepts the agent's part PUTs (routes/blob-parts.ts), on HMAC-signed URLs.
 *
 *   <root>/<key>                              stored objects
 *   <root>/.uploads/<uploadId>/<partNumber>   parts of a multipart upload in progress
 *   <root>/.staging/<uploadId>.<key digest>   a single-PUT object, until its complete publishes it
 *
 * Every write is crash-safe like the agent's spool: write a temp name, fsync, rename, fsync the
 * directory. A reader therefore sees a whole part or object or none, never a torn one. Part URLs
 * write only the two areas above; an object is published at its key once (a hard link, which fails
 * rather than replace), so no URL, replayed or not, reaches a stored object.
 */
import { randomBytes } from 'node:crypto';
import { type BigIntStats, createReadStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError, PRIVATE_DIR_MODE } from '@ferry/shared';
import {
  assertBlobKey,
  assertExpiry,
  assertPart,
  assertPartCount,
  assertPartKind,
  assertRange,
  assertUploadId,
  checkParts,
  stagingName,
} from './blob-checks.js';
import type { BlobStore, StoredPart, UploadHandle } from './blob-store.js';
import { PackUrls } from './pack-urls.js';
import { PartFeed, WRITE_BYTES } from './part-feed.js';
import { buildPartUrl, type PartUrlFields, verifyPartRequest } from './part-signature.js';

export interface FsBlobStoreOptions {
  /** Directory that holds everything: FERRY_DATA_DIR/blobs. Created when missing. */
  root: string;
  /** Base URL agents reach the control plane at (FERRY_PUBLIC_URL); part URLs point here. */
  publicUrl: string;
  /** HMAC key of part URLs (settings `blob_signing_secret`, see loadBlobSigningSecret). */
  signingSecret: Uint8Array;
}

const UPLOADS_DIR = '.uploads';
const STAGING_DIR = '.staging';
const PART_NAME = /^[1-9][0-9]*$/;

function notOpen(uploadId: string): FerryError {
  return new FerryError(
    'upload.not_found',
    `upload ${uploadId} is not open (completed, aborted or never started); offer the object again`,
  );
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  readonly root: string;
  private readonly publicUrl: string;
  private readonly secret: Uint8Array;
  private readonly objectDirs = new Set<string>();
  readonly packUrls: PackUrls;

  constructor(opts: FsBlobStoreOptions) {
    this.root = opts.root;
    this.publicUrl = opts.publicUrl.replace(/\/$/, '');
    this.secret = opts.signingSecret;
    this.packUrls = new PackUrls(this.publicUrl, this.secret);
  }

  async putObject(key: string, bytes: Buffer): Promise<void> {
    assertBlobKey(key);
    const target = this.objectPath(key);
    await this.io('prepare object directory', () => this.ensureObjectDir(dirname(target)));
    await this.writeAtomically(target, (out) => out.writeFile(bytes), { once: true });
  }

  /** Creates the root (and its uploads and staging areas) at start, so an unwritable directory fails fast. */
  async init(): Promise<void> {
    await this.io('create its directory', async () => {
      await ensureDir(join(this.root, UPLOADS_DIR));
      await ensureDir(join(this.root, STAGING_DIR));
    });
  }

  async createUpload(input: { key: string; uploadId: string; parts: number }): Promise<UploadHandle> {
    assertBlobKey(input.key);
    assertUploadId(input.uploadId);
    assertPartCount(input.parts);
    if (input.parts === 1) return { key: input.key, uploadId: input.uploadId, backendUploadId: undefined };
    // The part directory is what makes part PUTs acceptable; re-offering an upload keeps its parts. Its
    // name doubles as the backend upload id, so "multipart or not" reads the same on both stores.
    await this.io('create upload', () => ensureDir(this.uploadDir(input.uploadId)));
    return { key: input.key, uploadId: input.uploadId, backendUploadId: input.uploadId };
  }

  async partUrl(
    upload: UploadHandle,
    part: { partNumber: number; length: number; single: boolean },
    expiresInSeconds: number,
  ): Promise<string> {
    assertExpiry(expiresInSeconds);
    assertPartKind(upload, part);
    if (part.single && part.partNumber !== 1)
      throw new FerryError('request.invalid', 'a single PUT is part 1 of its object');
    return buildPartUrl(this.publicUrl, this.secret, {
      uploadId: upload.uploadId,
      partNumber: part.partNumber,
      length: part.length,
      key: upload.key,
      single: part.single,
      expiresAt: Math.floor(Date.now() / 1000) + expiresInSeconds,
    });
  }

  /** Checks a part PUT's path and query (see part-signature.ts); throws `upload.url_invalid`. */
  verifyPartRequest(req: {
    uploadId: string;
    partNumber: string;
    query: Record<string, string | undefined>;
  }): PartUrlFields {
    return verifyPartRequest(this.secret, req);
  }

  /**
   * Writes one part, or a whole single-PUT object (to its staging file, never its key), from a body that
   * must hold exactly `length` bytes. A body that is short, long or cut off leaves nothing behind.
   * Returns the quoted hex MD5 (as S3 does) and the written file's identity (see `identity`). With
   * `check`, the body's chunks also pass through it as they are written (it may stop early; the rest
   * is still written), and what it returns comes back as `checked`. The route checks first that the
   * upload is open.
   */
  async receivePart<T = never>(
    fields: PartUrlFields,
    body: AsyncIterable<Uint8Array>,
    check?: (chunks: AsyncIterable<Buffer>) => Promise<T>,
  ): Promise<{ etag: string; identity: string; checked?: T }> {
    assertBlobKey(fields.key);
    assertUploadId(fields.uploadId);
    assertPart(fields);
    let target: string;
    if (fields.single) {
      target = this.stagingPath(fields);
    } else {
      const dir = this.uploadDir(fields.uploadId);
      if (!(await this.io('find upload', () => exists(dir)))) throw notOpen(fields.uploadId);
      target = join(dir, String(fields.partNumber));
    }
    return this.writeAtomically(
      target,
      async (out) => {
        const feed = new PartFeed(body, out, fields.length);
        let checked: T | undefined;
        if (check) {
          try {
            checked = await check(feed);
          } catch (err) {
            throw feed.failure ?? err;
          }
        }
        const md5 = await feed.finish();
        const identity = identityOf(await out.stat({ bigint: true }));
        return { etag: `"${md5}"`, identity, ...(check ? { checked } : {}) };
      },
      { nameMayBeLost: true },
    );
  }

  /**
   * A token of the file stored at `key` that changes whenever another file takes that name: files here
   * are written once under a temp name and then only renamed or linked (which keep it), never changed
   * in place. Undefined when there is no object.
   */
  async identity(key: string): Promise<string | undefined> {
    assertBlobKey(key);
    return this.io('read object identity', async () => {
      try {
        return identityOf(await stat(this.objectPath(key), { bigint: true }));
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
        throw err;
      }
    });
  }

  async listParts(upload: UploadHandle): Promise<StoredPart[]> {
    if (upload.backendUploadId === undefined) {
      // A single PUT: its one part is the staged object, or the object once published.
      const size = (await this.stagedSize(upload)) ?? (await this.head(upload.key))?.size;
      return size === undefined ? [] : [{ partNumber: 1, size }];
    }
    const dir = this.multipartDir(upload);
    const names = await this.io('list parts', async () => {
      try {
        return await readdir(dir);
      } catch (err) {
        if (errno(err) === 'ENOENT') throw notOpen(upload.uploadId);
        throw err;
      }
    });
    const parts: StoredPart[] = [];
    for (const name of names) {
      if (!PART_NAME.test(name)) continue; // temp files of writes in flight
      const size = await this.io('list parts', async () => {
        try {
          return (await stat(join(dir, name))).size;
        } catch (err) {
          if (errno(err) === 'ENOENT') return undefined; // completed meanwhile
          throw err;
        }
      });
      if (size !== undefined) parts.push({ partNumber: Number(name), size });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeUpload(upload: UploadHandle, parts: StoredPart[]): Promise<void> {
    assertBlobKey(upload.key);
    const target = this.objectPath(upload.key);
    if (upload.backendUploadId === undefined) {
      const staged = this.stagingPath(upload);
      const size = await this.stagedSize(upload);
      if (size === undefined) {
        // Not staged: published by an earlier complete (then held at the key), or never sent.
        const published = await this.head(upload.key);
        checkParts(upload, parts, new Map(published ? [[1, published.size]] : []));
        return;
      }
      checkParts(upload, parts, new Map([[1, size]]));
      await this.io('prepare object directory', () => this.ensureObjectDir(dirname(target)));
      await this.io('publish', async () => {
        try {
          await publishOnce(staged, target);
        } catch (err) {
          if (errno(err) !== 'ENOENT') throw err;
          // The directory went away since it was made: make it again.
          this.objectDirs.delete(dirname(target));
          await this.ensureObjectDir(dirname(target));
          await publishOnce(staged, target);
        }
      });
      await this.io('remove the staged object', () => unlinkIfAny(staged));
      return;
    }
    await this.join(upload, parts);
  }

  /**
   * completeUpload of a multipart upload, its joined bytes passing through `check` as they are written
   * (the one read of them). The published file's identity and what `check` returned come back; when an
   * object was at the key already it is kept, and the identity then names another file.
   */
  async completeChecked<T>(
    upload: UploadHandle,
    parts: StoredPart[],
    check: (chunks: AsyncIterable<Buffer>) => Promise<T>,
  ): Promise<{ identity: string; checked: T }> {
    assertBlobKey(upload.key);
    if (upload.backendUploadId === undefined)
      throw new FerryError('request.invalid', 'a single PUT is checked as it arrives, not on complete');
    return this.join(upload, parts, check);
  }

  private async join<T>(
    upload: UploadHandle,
    parts: StoredPart[],
    check?: (chunks: AsyncIterable<Buffer>) => Promise<T>,
  ): Promise<{ identity: string; checked: T }> {
    const target = this.objectPath(upload.key);
    const held = new Map((await this.listParts(upload)).map((p) => [p.partNumber, p.size]));
    checkParts(upload, parts, held);
    await this.io('prepare object directory', () => this.ensureObjectDir(dirname(target)));
    const dir = this.multipartDir(upload);
    const length = parts.reduce((sum, p) => sum + p.size, 0);
    async function* joined(): AsyncGenerator<Buffer> {
      // A stream per part: objects can be far larger than memory should hold.
      for (const part of parts)
        yield* createReadStream(join(dir, String(part.partNumber)), { highWaterMark: WRITE_BYTES });
    }
    const result = await this.writeAtomically(
      target,
      async (out) => {
        const feed = new PartFeed(joined(), out, length, { md5: false });
        let checked: T | undefined;
        try {
          if (check) checked = await check(feed);
          await feed.finish();
        } catch (err) {
          const failure = feed.failure ?? err;
          // A part changed size under the join (a replayed PUT): the parts are not what was listed.
          if (failure instanceof FerryError && failure.code === 'request.invalid')
            throw new FerryError('upload.incomplete', `upload ${upload.uploadId}: ${failure.message}`);
          throw failure;
        }
        return { identity: identityOf(await out.stat({ bigint: true })), checked: checked as T };
      },
      { once: true },
    );
    await this.io('remove upload parts', () => rm(dir, { recursive: true, force: true }));
    return result;
  }

  async abortUpload(upload: UploadHandle): Promise<void> {
    if (upload.backendUploadId === undefined) {
      await this.io('abort upload', () => rm(this.stagingPath(upload), { force: true }));
      return;
    }
    const dir = this.multipartDir(upload);
    await this.io('abort upload', () => rm(dir, { recursive: true, force: true }));
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    assertBlobKey(key);
    return this.io('read object size', async () => {
      try {
        const s = await stat(this.objectPath(key));
        return s.isFile() ? { size: s.size } : undefined;
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
        throw err;
      }
    });
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    assertBlobKey(key);
    if (range) assertRange(range);
    // Opened here, not lazily by the stream, so a missing object rejects this promise.
    const handle = await this.io('open object', async () => {
      try {
        return await open(this.objectPath(key), 'r');
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR')
          throw new FerryError('resource.not_found', `no stored object ${key}`);
        throw err;
      }
    });
    if (range) {
      const { size } = await handle.stat();
      if (range.start >= size) {
        await handle.close();
        throw new FerryError(
          'request.invalid',
          `range starts at ${range.start}, past the ${size}-byte object`,
        );
      }
      return handle.createReadStream({ start: range.start, end: range.end, highWaterMark: WRITE_BYTES });
    }
    // Large reads: whole-object readers (verify, downloads) would otherwise rebuild 1 MiB frames from 64 KiB.
    return handle.createReadStream({ highWaterMark: WRITE_BYTES });
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    await this.io('delete object', async () => {
      try {
        await unlink(this.objectPath(key));
      } catch (err) {
        if (errno(err) !== 'ENOENT' && errno(err) !== 'ENOTDIR') throw err;
      }
    });
  }

  /** ensureDir, once per directory: object directories (one per group) are made once and kept. */
  private async ensureObjectDir(dir: string): Promise<void> {
    if (this.objectDirs.has(dir)) return;
    await ensureDir(dir);
    this.objectDirs.add(dir);
  }

  private objectPath(key: string): string {
    return join(this.root, key);
  }

  private uploadDir(uploadId: string): string {
    return join(this.root, UPLOADS_DIR, uploadId);
  }

  private stagingPath(upload: Pick<UploadHandle, 'key' | 'uploadId'>): string {
    return join(this.root, STAGING_DIR, stagingName(upload));
  }

  private stagedSize(upload: UploadHandle): Promise<number | undefined> {
    const path = this.stagingPath(upload);
    return this.io('read the staged object', async () => {
      try {
        return (await stat(path)).size;
      } catch (err) {
        if (errno(err) === 'ENOENT') return undefined;
        throw err;
      }
    });
  }

  private multipartDir(upload: UploadHandle): string {
    assertUploadId(upload.uploadId);
    if (upload.backendUploadId !== upload.uploadId)
      throw new FerryError('request.invalid', `upload ${upload.uploadId} was not started by this store`);
    return this.uploadDir(upload.uploadId);
  }

  /**
   * Fills a temp file next to `target` with `fill`, then fsync, rename, fsync the directory. With
   * `once`, an object already at `target` is kept and the new bytes are dropped (see publishOnce).
   * With `nameMayBeLost`, the directory is not synced: for parts and staged single PUTs, whose bytes
   * are synced but whose name only has to survive until complete publishes them (and syncs that
   * name). A crash can then lose the name, never tear the file: the agent, which keeps its copy
   * until the receipt, is told to send it again.
   */
  private async writeAtomically<T>(
    target: string,
    fill: (out: FileHandle) => Promise<T>,
    opts: { once?: boolean; nameMayBeLost?: boolean } = {},
  ): Promise<T> {
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const out = await this.io('create temp file', () => open(tmp, 'wx'));
    try {
      const result = await this.io('write', () => fill(out));
      await this.io('sync', () => out.sync());
      await out.close();
      if (opts.once) {
        await this.io('publish', () => publishOnce(tmp, target));
        await rm(tmp, { force: true });
      } else {
        await this.io('publish', () => rename(tmp, target));
        if (!opts.nameMayBeLost) await this.io('sync directory', () => syncDir(dirname(target)));
      }
      return result;
    } catch (err) {
      await out.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Runs a file-system step; errno failures become `storage.unavailable` naming the step and the errno.
   * The message reaches API callers, so it names no path (the cause, with the path, stays server-side).
   */
  private async io<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FerryError) throw err;
      throw new FerryError(
        'storage.unavailable',
        `the blob store failed to ${step} (${errno(err) ?? 'I/O error'})`,
        { cause: err },
      );
    }
  }
}

/** Device, inode, size and modification time: a replaced file differs in one of them. */
function identityOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Gives `source`'s file the name `target` unless `target` exists, and makes that durable. A hard link
 * fails on an existing name where rename would replace it, so of two completes of one upload racing
 * (or a late PUT's bytes arriving in between), the first to publish stays. `source` is left for the
 * caller to remove.
 */
async function publishOnce(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
  }
  await syncDir(dirname(target));
}

/** mkdir -p that also fsyncs each new directory's parent, so the new entries survive a crash. */
async function ensureDir(dir: string): Promise<void> {
  if (await exists(dir)) return;
  await ensureDir(dirname(dir));
  try {
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err; // a concurrent writer made it
    return;
  }
  await syncDir(dirname(dir));
}

/** A directory's fsync waiting to start, and the one running. */
interface DirSync {
  waiting: Promise<void> | undefined;
  running: Promise<void> | undefined;
}
const dirSyncs = new Map<string, DirSync>();

/**
 * fsyncs `dir` after the caller's change to it (group commit): callers that arrive while a sync of
 * the directory waits to start share it, and one that arrives while a sync runs gets the next one, so
 * every caller's entry is covered by an fsync that began after it was made. Many objects published at
 * once into one group's directory then cost one fsync, not one each.
 */
function syncDir(dir: string): Promise<void> {
  let s = dirSyncs.get(dir);
  if (!s) {
    s = { waiting: undefined, running: undefined };
    dirSyncs.set(dir, s);
  }
  if (s.waiting) return s.waiting;
  const sync = s;
  const next = (async () => {
    // Always yields first, so `waiting` is set before it is cleared.
    await sync.running?.catch(() => {});
    sync.waiting = undefined;
    const run = syncDirNow(dir);
    sync.running = run;
    try {
      await run;
    } finally {
      if (sync.running === run) sync.running = undefined;
      if (!sync.running && !sync.waiting && dirSyncs.get(dir) === sync) dirSyncs.delete(dir);
    }
  })();
  s.waiting = next;
  return next;
}

async function syncDirNow(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfAny(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err;
  }
}
