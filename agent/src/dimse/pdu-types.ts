/** DICOM PS3.8 upper-layer constants. */
export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export const RejectResult = { Permanent: 1, Transient: 2 } as const;
export const RejectSource = {
  ServiceUser: 1,
  ServiceProviderAcse: 2,
  ServiceProviderPresentation: 3,
} as const;
/** Reasons by source: user 1/2/3/7, ACSE 1/2, presentation 1/2. */
export const RejectReason = {
  NoReasonGiven: 1,
  ApplicationContextNotSupported: 2,
  CallingAeNotRecognized: 3,
  CalledAeNotRecognized: 7,
  ProtocolVersionNotSupported: 2,
  TemporaryCongestion: 1,
  LocalLimitExceeded: 2,
} as const;

export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

export const PresentationResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

export const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';
export { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../spool/implementation.js';
