import type { StoreRequest } from '../spool/store-contract.js';

export type { StoreRequest } from '../spool/store-contract.js';

export interface StoreOutcome {
  /** DIMSE status: 0x0000 only once bytes and index entry are on disk. */
  status: number;
  errorComment?: string;
  objectId?: string;
  duplicate?: boolean;
  version?: number;
  plainBytes?: number;
}

export interface StoreWriter {
  /** Returns false when the caller should pause its source until `onDrain` fires. */
  write(slice: Buffer): boolean;
  /** write() keeps no reference to the slice: the connection may release its socket chunk at once. */
  readonly copiesSlices?: boolean;
  onDrain(cb: () => void): void;
  /** The dataset is complete: resolves once the outcome is durable (or failed). */
  end(): Promise<StoreOutcome>;
  /** The peer went away mid-dataset: discard everything written. */
  abort(): void;
}

/**
 * Where a C-STORE's dataset goes, as the DIMSE connection sees it: answered with a DIMSE status.
 * The spool becomes one through dimseStore (store-status.ts); tests use others.
 */
export interface StoreHandler {
  begin(req: StoreRequest): StoreWriter;
}

export const Status = {
  Success: 0x0000,
  /** The SOP class of the request is not one the presentation context serves (PS3.7 C.4.2). */
  SopClassNotSupported: 0x0122,
  /** A DIMSE operation we do not implement (PS3.7 C.4.3). */
  UnrecognizedOperation: 0x0211,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc211,
} as const;
