/** What the listener enforces; replaced live when config changes. */
export interface AssociationPolicy {
  aeTitle: string;
  /** Empty means any calling AE title is accepted. */
  allowedCallingAeTitles: string[];
  maxAssociations: number;
  /** Largest P-DATA-TF PDU we accept and advertise. */
  maxPduLength: number;
  /** ARTIM: time allowed for the A-ASSOCIATE-RQ after connect and for the peer to close after release. */
  artimTimeoutMs: number;
  /** An established association with no bytes for this long is aborted. */
  idleTimeoutMs: number;
}
