/**
 * The one table of Ferry error codes. Every typed error carries one of these codes; the HTTP edge
 * maps them to status codes from `http`, and the agent's DICOM receiver answers a failed C-STORE
 * with `dimse` (PS3.4 B.2.3; a code without one answers 0xC211, Cannot Understand).
 */
export interface ErrorCodeEntry {
  http: number;
  /** The C-STORE failure status for this code, when it is not 0xC211 (Cannot Understand). */
  dimse?: number;
  retryable: boolean;
  description: string;
}

export const ERROR_CODES = {
  'config.data_dir_missing': {
    http: 404,
    retryable: false,
    description:
      'The data directory a command was given does not exist (a typo, or the agent was never set up there).',
  },
  'config.invalid': {
    http: 400,
    retryable: false,
    description: 'A configuration value is missing or invalid.',
  },
  'config.unreadable': {
    http: 500,
    retryable: false,
    description: 'A configuration file cannot be read or parsed.',
  },
  'config.data_dir_exposed': {
    http: 500,
    retryable: false,
    description:
      'A data directory can be read or written by other local users; the message names the chmod that makes it private.',
  },
  'dicom.ae_title_invalid': {
    http: 400,
    retryable: false,
    description: 'An AE title breaks the DICOM rules.',
  },
  'dicom.pdu_malformed': {
    http: 400,
    retryable: false,
    description: 'A peer sent a PDU that breaks the DICOM upper-layer protocol.',
  },
  'dicom.pdu_too_large': {
    http: 413,
    retryable: false,
    description: 'A peer sent a PDU larger than the negotiated or allowed maximum.',
  },
  'dicom.connection_refused': {
    http: 503,
    retryable: true,
    description:
      'A connection was closed before association: its address, or the gateway, has too many connections waiting to associate.',
  },
  'dicom.association_rejected': {
    http: 403,
    retryable: false,
    description: 'An association request was rejected by policy.',
  },
  'dicom.dataset_mismatch': {
    http: 400,
    dimse: 0xa900,
    retryable: false,
    description: 'A dataset does not match its C-STORE request.',
  },
  'dicom.dataset_unreadable': {
    http: 400,
    retryable: false,
    description: 'A dataset header cannot be parsed.',
  },
  'dicom.dataset_malformed': {
    http: 400,
    // Cannot understand (PS3.4 B.2.3), as pynetdicom answers a dataset it cannot decode; 0xA900
    // would tell the sender its data is the wrong SOP class, which is another fault.
    dimse: 0xc210,
    retryable: false,
    description:
      'A C-STORE dataset was not read to its end or is not well formed (an element, sequence, item or Pixel Data cut off or inconsistent); nothing of it is kept.',
  },
  'spool.out_of_space': {
    http: 507,
    dimse: 0xa700,
    retryable: true,
    description: 'The spool disk is full.',
  },
  'spool.io_error': {
    http: 500,
    dimse: 0xa700,
    retryable: true,
    description: 'The spool could not write or sync data.',
  },
  'spool.corrupt': {
    http: 500,
    retryable: false,
    description: 'A spool object or index entry failed verification.',
  },
  'crypto.bad_object': {
    http: 400,
    retryable: false,
    description: 'An encrypted object is malformed, truncated or reordered.',
  },
  'crypto.key_invalid': {
    http: 400,
    retryable: false,
    description: 'A key is missing, malformed or of the wrong type.',
  },
  'crypto.unwrap_failed': {
    http: 400,
    retryable: false,
    description: 'A wrapped data key cannot be unwrapped with the given key.',
  },
  'crypto.secret_unreadable': {
    http: 500,
    retryable: false,
    description:
      'A secret the database holds does not open with the keys in the key file (FERRY_KEY_FILE): the control plane runs with another key file than the database was used with.',
  },
  'auth.missing_token': { http: 401, retryable: false, description: 'The request carries no credentials.' },
  'auth.invalid_token': {
    http: 401,
    retryable: false,
    description: 'The credentials are malformed, forged or not accepted here.',
  },
  'auth.expired_token': { http: 401, retryable: false, description: 'The credentials have expired.' },
  'auth.token_not_yet_valid': {
    http: 401,
    retryable: false,
    description:
      "An agent token was issued in the future beyond the allowed clock skew: the gateway's clock is ahead (enable NTP).",
  },
  'auth.replayed_token': {
    http: 401,
    retryable: false,
    description: 'A one-time agent token was presented twice.',
  },
  'auth.reenroll': {
    http: 401,
    retryable: false,
    description: 'The gateway was revoked or is unknown and must enroll again.',
  },
  'auth.bad_credentials': {
    http: 401,
    retryable: false,
    description: 'The e-mail address or password is wrong.',
  },
  'auth.forbidden': { http: 403, retryable: false, description: 'The caller may not do this.' },
  'auth.rate_limited': { http: 429, retryable: true, description: 'Too many attempts; wait and try again.' },
  'auth.password_change_required': {
    http: 403,
    retryable: false,
    description:
      'The account has a temporary password; change it (POST /api/v1/me/password) before anything else.',
  },
  'auth.wrong_password': {
    http: 403,
    retryable: false,
    description: 'The current password given to confirm a password change is wrong.',
  },
  'auth.cross_origin': {
    http: 403,
    retryable: false,
    description:
      "A cookie-authenticated request that changes state did not come from the console's own origin.",
  },
  'request.invalid': {
    http: 400,
    retryable: false,
    description: 'The request body, query or path is invalid.',
  },
  'request.too_large': {
    http: 413,
    retryable: false,
    description: 'The request body is larger than allowed.',
  },
  'request.unsupported_media_type': {
    http: 415,
    retryable: false,
    description: 'The request body must be JSON.',
  },
  'request.not_acceptable': {
    http: 406,
    retryable: false,
    description: 'No representation the Accept header allows can be produced (e.g. another transfer syntax).',
  },
  'dicomweb.bad_frame_list': {
    http: 400,
    retryable: false,
    description:
      'The frame list of a WADO-RS frames or rendered request is not a comma-separated list of frame numbers from 1.',
  },
  'dicomweb.frame_not_found': {
    http: 404,
    retryable: false,
    description: 'A frame number asked for is larger than the Number of Frames of the instance.',
  },
  'dicomweb.no_pixel_data': {
    http: 404,
    retryable: false,
    description:
      'The instance holds no pixel data (a structured report, an RT plan, a waveform), so it has no frames or rendering.',
  },
  'dicomweb.bulkdata_not_found': {
    http: 404,
    retryable: false,
    description: 'The instance holds no bulk data value at this path.',
  },
  'dicomweb.cannot_decode': {
    http: 406,
    retryable: false,
    description:
      'The pixel data cannot be decoded for rendering or transcoding (its transfer syntax or pixel layout is not supported); retrieve it as stored (transfer-syntax=*) instead.',
  },
  'dicomweb.cannot_transcode': {
    http: 406,
    retryable: false,
    description:
      'The instance cannot be returned in the transfer syntax asked for without losing data; ask for it as stored (transfer-syntax=*).',
  },
  'cors.origin_not_allowed': {
    http: 403,
    retryable: false,
    description: 'A cross-origin request came from an origin not listed in FERRY_CORS_ORIGINS.',
  },
  'resource.not_found': { http: 404, retryable: false, description: 'No such resource (in your group).' },
  'resource.conflict': {
    http: 409,
    retryable: false,
    description: 'The change conflicts with existing data.',
  },
  'enrollment.token_invalid': {
    http: 401,
    retryable: false,
    description: 'The enrollment token is unknown, used up, expired or revoked.',
  },
  'enrollment.key_mismatch': {
    http: 502,
    retryable: false,
    description:
      'The enrollment answer carries a recipient key other than the one pinned with --key-thumbprint (a TLS-inspecting proxy or another server); nothing was written.',
  },
  'agent_release.missing': {
    http: 404,
    retryable: false,
    description:
      'This control plane has no agent release to serve (FERRY_AGENT_RELEASE); build one with npm run bundle:agent.',
  },
  'agent_release.rejected': {
    http: 422,
    retryable: false,
    description:
      'A downloaded agent release was not installed: its size, SHA-256 or signature did not match what the control plane signed, its contents were not one release of that version, or the gateway holds no release signing key.',
  },
  'agent_release.not_supervised': {
    http: 409,
    retryable: false,
    description:
      'The agent was asked to upgrade but runs without its supervisor (`ferry-agent run`, as the systemd unit starts it), so nothing could roll it back; it stays on its version.',
  },
  'control.unreachable': {
    http: 503,
    retryable: true,
    description: 'The control plane cannot be reached or answered with a server error.',
  },
  'control.bad_response': {
    http: 502,
    retryable: false,
    description: 'The control plane answered with something this agent does not understand.',
  },
  'upload.url_invalid': {
    http: 403,
    retryable: false,
    description: 'An upload URL is tampered with, expired or for another part.',
  },
  'upload.not_found': { http: 404, retryable: false, description: 'No such upload session.' },
  'upload.incomplete': {
    http: 409,
    retryable: true,
    description: 'An upload was completed before all of its parts arrived.',
  },
  'upload.hash_mismatch': {
    http: 422,
    retryable: true,
    description: 'The stored object does not hash to what the agent sent; send it again.',
  },
  'upload.object_invalid': {
    http: 422,
    retryable: false,
    description: 'A stored object cannot be opened or its content does not match its claims.',
  },
  'storage.unavailable': {
    http: 503,
    retryable: true,
    description: 'The blob store is unreachable or failed.',
  },
  'protocol.version_mismatch': {
    http: 426,
    retryable: false,
    description: 'The peer speaks a protocol version this side does not support; upgrade the older side.',
  },
  'protocol.message_invalid': {
    http: 400,
    retryable: false,
    description: 'A channel message is not valid JSON or does not match its schema.',
  },
  'gateway.offline': {
    http: 409,
    retryable: true,
    description: 'The gateway has no live control channel, so it cannot be reached right now.',
  },
  'diagnostic.timeout': {
    http: 504,
    retryable: true,
    description: 'The gateway did not answer a diagnostic in time.',
  },
  'diagnostic.failed': {
    http: 502,
    retryable: true,
    description: 'A diagnostic ran on the gateway and found a problem.',
  },
  'diagnostic.peer_not_listed': {
    http: 400,
    retryable: false,
    description:
      "A diagnostic asked the gateway to reach a DICOM node that is not one of its listed peers (gateway settings' peers).",
  },
  'dicom.echo_failed': {
    http: 502,
    retryable: true,
    description: 'A C-ECHO to a DICOM peer failed (no connection, rejected association or bad status).',
  },
  'dicom.commitment_invalid': {
    http: 400,
    dimse: 0x0115,
    retryable: false,
    description:
      'A storage commitment N-ACTION-RQ cannot be carried out as sent (no Transaction UID, no referenced instances, an unreadable dataset); its N-ACTION-RSP carries the status.',
  },
  'dicom.commitment_report_failed': {
    http: 502,
    retryable: true,
    description:
      'A storage commitment N-EVENT-REPORT could not be delivered to the requester (not in the peers list, no connection, rejected association or bad status); it is retried.',
  },
  'webhook.url_not_allowed': {
    http: 400,
    retryable: false,
    description:
      'A webhook URL names or resolves to an address deliveries may not go to (loopback, private, link-local, cloud metadata).',
  },
  'webhook.delivery_failed': {
    http: 502,
    retryable: true,
    description: 'A webhook endpoint did not accept a delivery.',
  },
  'db.unavailable': { http: 503, retryable: true, description: 'The database is not reachable.' },
  'internal.unexpected': { http: 500, retryable: false, description: 'An unexpected internal error.' },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;
