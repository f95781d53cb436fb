import { createHash } from 'node:crypto';
import { FerryError } from '@ferry/shared';
import type { StoredPart, UploadHandle } from './blob-store.js';

/**
 * Segments are `[A-Za-z0-9_.-]` and may not start with a dot: that rules out `.` and `..` (no escape
 * from the fs root) and the store's own `.uploads` area, and a leading `/` or `//` gives an empty
 * segment, which does not match either.
 */
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
const MAX_KEY_LENGTH = 512;
/** Upload ids name a directory of the fs store; the control plane makes them (UUIDs). */
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** S3's limit, kept by the fs store too so both behave alike. */
export const MAX_PART_NUMBER = 10_000;
/** Longest a presigned S3 URL may live (SigV4); the fs store keeps the same bound. */
export const MAX_URL_SECONDS = 7 * 24 * 3600;

/** Throws unless `key` is a store key. Keys come from the control plane, so a bad one is a bug upstream. */
export function assertBlobKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH || !KEY.test(key))
    throw new FerryError('request.invalid', `not a valid blob key: ${JSON.stringify(key.slice(0, 80))}`);
}

export function assertUploadId(uploadId: string): void {
  if (!UPLOAD_ID.test(uploadId))
    throw new FerryError(
      'request.invalid',
      `not a valid upload id: ${JSON.stringify(uploadId.slice(0, 80))}`,
    );
}

export function assertPart(part: { partNumber: number; length: number }): void {
  if (!Number.isSafeInteger(part.partNumber) || part.partNumber < 1 || part.partNumber > MAX_PART_NUMBER)
    throw new FerryError(
      'request.invalid',
      `part number must be 1..${MAX_PART_NUMBER}, not ${part.partNumber}`,
    );
  if (!Number.isSafeInteger(part.length) || part.length < 1)
    throw new FerryError('request.invalid', `part length must be a positive integer, not ${part.length}`);
}

/** An upload has one part (a single PUT) or more (multipart). */
export function assertPartCount(parts: number): void {
  if (!Number.isSafeInteger(parts) || parts < 1)
    throw new FerryError('request.invalid', `an upload has at least one part, not ${parts}`);
}

/** A single PUT belongs to a single-PUT upload, a part to a multipart one (`backendUploadId` set). */
export function assertPartKind(upload: UploadHandle, part: { single: boolean }): void {
  if (part.single !== (upload.backendUploadId === undefined))
    throw new FerryError(
      'request.invalid',
      part.single ? 'a single PUT cannot belong to a multipart upload' : 'this upload is not multipart',
    );
}

/**
 * The name a single PUT is staged under until complete publishes it: the upload id, and a digest of
 * the key, so that an upload id alone (an upload test's id is handed to its gateway) never reaches
 * the bytes staged for another key.
 */
export function stagingName(upload: Pick<UploadHandle, 'key' | 'uploadId'>): string {
  assertUploadId(upload.uploadId);
  assertBlobKey(upload.key);
  return `${upload.uploadId}.${createHash('sha256').update(upload.key).digest('hex').slice(0, 32)}`;
}

export function assertExpiry(expiresInSeconds: number): void {
  if (!Number.isSafeInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_URL_SECONDS)
    throw new FerryError(
      'request.invalid',
      `URL lifetime must be 1..${MAX_URL_SECONDS} s, not ${expiresInSeconds}`,
    );
}

export function assertRange(range: { start: number; end: number }): void {
  if (
    !Number.isSafeInteger(range.start) ||
    !Number.isSafeInteger(range.end) ||
    range.start < 0 ||
    range.end < range.start
  )
    throw new FerryError('request.invalid', `invalid byte range ${range.start}-${range.end}`);
}

/** The parts asked for must be held, in ascending order, with the sizes the caller expects. */
export function checkParts(upload: UploadHandle, parts: StoredPart[], held: Map<number, number>): void {
  if (parts.length === 0)
    throw new FerryError('upload.incomplete', `upload ${upload.uploadId} names no parts`);
  let previous = 0;
  for (const part of parts) {
    if (part.partNumber <= previous)
      throw new FerryError('request.invalid', 'parts must be listed in ascending order, each once');
    previous = part.partNumber;
    const size = held.get(part.partNumber);
    if (size === undefined)
      throw new FerryError(
        'upload.incomplete',
        `upload ${upload.uploadId} is missing part ${part.partNumber}`,
      );
    if (size !== part.size)
      throw new FerryError(
        'upload.incomplete',
        `upload ${upload.uploadId} part ${part.partNumber} holds ${size} bytes, not ${part.size}`,
      );
  }
}
