import { createInflateRaw, type InflateRaw } from 'node:zlib';
import { TS } from '@ferry/shared';
import { type DatasetLayout, DatasetStructure, type StructureVerdict } from './dataset-check.js';
import { STANDARD_TRANSFER_SYNTAXES } from './standard-transfer-syntaxes.js';

/** JPIP Referenced Deflate: like Deflated Explicit VR Little Endian, the whole dataset is deflated. */
const JPIP_REFERENCED_DEFLATE = '1.2.840.10008.1.2.4.95';
/** Papyrus 3 Implicit VR Little Endian (retired): encoded as Implicit VR Little Endian. */
const PAPYRUS_3_IMPLICIT = '1.2.840.10008.1.20';
/** RFC 2557 MIME and XML encodings (retired): not a binary dataset, so there is nothing to walk. */
const NOT_BINARY_ROOT = '1.2.840.10008.1.2.6.';
/** Deflated bytes that may wait for the inflater before the source is paused. */
const INFLATE_QUEUE_BYTES = 1 << 20;

/**
 * A dataset structure check fed slice by slice. `write` is false when the check wants its source
 * paused until `onDrain` (only while inflating); `finish` says whether the dataset was whole.
 */
export interface DatasetCheck {
  write(slice: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** Set as soon as the bytes so far cannot be a well-formed dataset. */
  readonly failed: StructureVerdict | undefined;
  finish(): Promise<StructureVerdict>;
  /** The dataset will not be finished (the peer went away): let go of what the check holds. */
  dispose(): void;
  /** write() keeps no reference to its slice once it returns. */
  readonly copiesSlices: boolean;
}

/**
 * The check for a transfer syntax, or undefined for one whose encoding we cannot know (a private
 * one an admin listed, or a retired non-binary one): those pass unchecked, as before.
 */
export function datasetCheckFor(transferSyntaxUid: string): DatasetCheck | undefined {
  const explicitLe: DatasetLayout = { implicit: false, littleEndian: true, nativePixels: false };
  switch (transferSyntaxUid) {
    case TS.ImplicitVRLittleEndian:
    case PAPYRUS_3_IMPLICIT:
      return new PlainCheck({ implicit: true, littleEndian: true, nativePixels: true });
    case TS.ExplicitVRLittleEndian:
      return new PlainCheck({ ...explicitLe, nativePixels: true });
    case TS.ExplicitVRBigEndian:
      return new PlainCheck({ implicit: false, littleEndian: false, nativePixels: true });
    case TS.DeflatedExplicitVRLittleEndian:
      return new InflatingCheck({ ...explicitLe, nativePixels: true });
    case JPIP_REFERENCED_DEFLATE:
      return new InflatingCheck(explicitLe);
  }
  if (!STANDARD_TRANSFER_SYNTAXES.has(transferSyntaxUid) || transferSyntaxUid.startsWith(NOT_BINARY_ROOT))
    return undefined;
  // Every other standard syntax is explicit VR little endian with encapsulated (or no) Pixel Data.
  return new PlainCheck(explicitLe);
}

class PlainCheck implements DatasetCheck {
  private readonly structure: DatasetStructure;
  /** The walk reads each slice while write() runs and copies only the few values it keeps. */
  readonly copiesSlices = true;

  constructor(layout: DatasetLayout) {
    this.structure = new DatasetStructure(layout);
  }

  get failed(): StructureVerdict | undefined {
    return this.structure.failed;
  }

  write(slice: Buffer): boolean {
    this.structure.push(slice);
    return true;
  }

  onDrain(cb: () => void): void {
    cb();
  }

  finish(): Promise<StructureVerdict> {
    return Promise.resolve(this.structure.finish());
  }

  dispose(): void {}
}

/**
 * A deflated dataset (PS3.5 A.5) is inflated as a stream, each inflated chunk walked and dropped.
 * Inflating runs on the thread pool; the source is paused while the inflater is behind, so neither
 * the deflated nor the inflated bytes pile up.
 */
class InflatingCheck implements DatasetCheck {
  private readonly structure: DatasetStructure;
  /** The inflater reads the slices later, on the thread pool. */
  readonly copiesSlices = false;
  private readonly inflater: InflateRaw;
  private inflateError: StructureVerdict | undefined;
  private drainCb: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(layout: DatasetLayout) {
    this.structure = new DatasetStructure(layout);
    this.inflater = createInflateRaw();
    this.inflater.on('data', (chunk: Buffer) => this.structure.push(chunk));
    this.done = new Promise<void>((resolve) => {
      this.inflater.once('end', resolve);
      this.inflater.once('error', (err: NodeJS.ErrnoException) => {
        this.inflateError = {
          // Z_BUF_ERROR at the end: the deflate stream was cut off; anything else is corrupt data.
          problem:
            err.code === 'Z_BUF_ERROR'
              ? 'dataset ends inside its deflate stream'
              : 'deflated dataset cannot be inflated',
          detail: { reason: err.message, offset: this.structure.bytes },
        };
        this.releaseDrain();
        resolve();
      });
    });
  }

  get failed(): StructureVerdict | undefined {
    return this.inflateError ?? this.structure.failed;
  }

  write(slice: Buffer): boolean {
    if (this.failed) return true;
    this.inflater.write(slice);
    // Up to INFLATE_QUEUE_BYTES may wait (beyond the stream's own 16 KiB mark, which would pause the
    // socket on every PDV); past it 'drain' comes once the inflater has caught up.
    return this.inflater.writableLength < INFLATE_QUEUE_BYTES;
  }

  onDrain(cb: () => void): void {
    if (this.failed) return cb();
    this.drainCb = cb;
    this.inflater.once('drain', () => this.releaseDrain());
  }

  async finish(): Promise<StructureVerdict> {
    this.inflater.end();
    await this.done;
    if (this.inflateError) return this.inflateError;
    return this.structure.finish();
  }

  dispose(): void {
    this.inflater.destroy();
  }

  private releaseDrain(): void {
    const cb = this.drainCb;
    this.drainCb = undefined;
    cb?.();
  }
}
