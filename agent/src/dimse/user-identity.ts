import { FerryError } from '@ferry/shared';

/** User-Identity-Type of the User Identity Negotiation sub-item (PS3.7 D.3.3.7.1). */
export enum UserIdentityType {
  Username = 1,
  UsernameAndPasscode = 2,
  Kerberos = 3,
  Saml = 4,
  Jwt = 5,
}

/** The requester's User Identity Negotiation sub-item (0x58). The fields are kept as bytes: they may be secrets or tickets, not text. */
export interface UserIdentity {
  /** 1 to 5 for the types PS3.7 names; another value is kept so the policy can say what it was. */
  type: number;
  positiveResponseRequested: boolean;
  primary: Buffer;
  secondary: Buffer;
}

const malformed = (message: string) =>
  new FerryError('dicom.pdu_malformed', `A-ASSOCIATE-RQ: user identity sub-item ${message}`);

/**
 * Parses the value of a 0x58 sub-item: type (1 byte), positive-response-requested (1), primary
 * field length (2) and field, secondary field length (2) and field, with nothing after it. A length
 * that does not add up is a malformed PDU (PS3.8 9.3.1: A-ABORT), not an identity to judge.
 */
export function parseUserIdentity(value: Buffer): UserIdentity {
  if (value.length < 6) throw malformed(`of ${value.length} bytes is shorter than the fixed 6`);
  const type = value[0]!;
  const primaryLength = value.readUInt16BE(2);
  const primaryEnd = 4 + primaryLength;
  if (primaryEnd + 2 > value.length)
    throw malformed(`primary field of ${primaryLength} bytes runs past its ${value.length}-byte sub-item`);
  const secondaryLength = value.readUInt16BE(primaryEnd);
  const end = primaryEnd + 2 + secondaryLength;
  if (end !== value.length)
    throw malformed(
      `secondary field of ${secondaryLength} bytes ${end > value.length ? 'runs past' : 'does not fill'} its ${value.length}-byte sub-item`,
    );
  if (type === 0) throw malformed('has user identity type 0');
  return {
    type,
    positiveResponseRequested: value[1] === 1,
    primary: Buffer.from(value.subarray(4, primaryEnd)),
    secondary: Buffer.from(value.subarray(primaryEnd + 2, end)),
  };
}

/** The value of the acceptor's 0x59 sub-item (PS3.7 D.3.3.7.2): server response length and server response. */
export function encodeUserIdentityResponse(serverResponse: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(serverResponse.length, 0);
  return Buffer.concat([head, serverResponse]);
}
