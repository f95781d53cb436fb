/** The contract between receiving (dimse/) and making durable (spool/). */
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
  onDrain(cb: () => void): void;
  /** The dataset is complete: resolves once the outcome is durable (or failed). */
  end(): Promise<StoreOutcome>;
  /** The peer went away mid-dataset: discard everything written. */
  abort(): void;
}

export interface StoreHandler {
  begin(req: StoreRequest): StoreWriter;
}

export const Status = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc211,
} as const;
