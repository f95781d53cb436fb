import type { ErrorCode } from '@ferry/shared';

/**
 * What a receiver hands the spool to store one instance. The receiver is DIMSE today, but nothing
 * here is: the spool answers with Ferry error codes, and dimse/ turns them into C-STORE statuses.
 */
export interface StoreRequest {
  associationId: string;
  callingAeTitle: string;
  calledAeTitle: string;
  peer: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  messageId: number;
}

/** Durable: the bytes and the index entry are on disk. */
export interface StoreSuccess {
  ok: true;
  objectId: string;
  /** An identical resend: `objectId` is the object stored before. */
  duplicate?: boolean;
  version: number;
  plainBytes: number;
}

/** Not stored, and nothing of it kept. */
export interface StoreFailure {
  ok: false;
  code: ErrorCode;
  message: string;
}

export type StoreResult = StoreSuccess | StoreFailure;

/** One instance on its way into the spool, written slice by slice as it arrives. */
export interface InstanceWriting {
  /** Returns false when the caller should pause its source until `onDrain` fires. */
  write(slice: Buffer): boolean;
  /**
   * True when write() keeps no reference to the slice it is given (it copies what it needs before
   * returning), so the caller may release the memory under it at once (buffer-release.ts).
   */
  readonly copiesSlices?: boolean;
  onDrain(cb: () => void): void;
  /** The dataset is complete: resolves once the result is durable (or failed). */
  end(): Promise<StoreResult>;
  /** The sender went away mid-dataset: discard everything written. */
  abort(): void;
}

export interface InstanceStore {
  begin(req: StoreRequest): InstanceWriting;
}
