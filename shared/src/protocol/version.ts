/**
 * One integer protocol version shared by agent and control plane, with a dated history.
 * 1 (2026-11-28): spool object format v1 and the agent.json contract.
 * 2 (2026-11-28): agent enrollment (`/api/v1/agents/enroll`), self-signed EdDSA agent tokens,
 *   `/api/v1/agents/rotate-key` and `/api/v1/agents/me`.
 * 3 (2026-11-28): resumable uploads (`/api/v1/agents/uploads`, presigned part URLs, receipts) and
 *   the `zstd` object compression.
 * 4 (2026-11-28): the live control channel (`/api/v1/agents/channel` websocket: hello, welcome,
 *   versioned config push with applied/rejected acks, heartbeats with coded health conditions,
 *   remote diagnostics) and the full desired gateway config (upload settings, schedule, retention,
 *   stable period).
 * 5 (2026-12-06): known DICOM peers: the gateway config's `peers` ({name, aeTitle, host, port, tls}),
 *   and the echo diagnostic names a listed peer (`peer`, or host/port/calledAeTitle/tls that match
 *   one) which the gateway checks against its applied peers. A version-4 agent would refuse every
 *   version-5 config (unknown key `peers`), so the channel no longer takes protocol 4.
 *   Also recipient key rotation over the channel: `hello` and the heartbeat's health carry the RFC 7638
 *   thumbprint of the key the gateway seals for (`recipientKeyThumbprint`), and the control plane
 *   sends `recipient-key` with its current public key to a gateway sealing for another.
 * 6 (2026-12-07): DICOM negotiation and storage-commitment settings in the gateway config:
 *   `transferSyntaxPolicy`, `privateTransferSyntaxes`, `privateSopClasses`, `userIdentity` and
 *   `storageCommitment.maxWaitMinutes`; enrollment writes every pushed setting of its config version.
 *   A version-5 agent would refuse every version-6 config (unknown keys), so the channel no longer
 *   takes protocol 5.
 * 7 (2026-12-07): the fleet console's gateway fields: `aeTitleAliases` ({aeTitle, expiresAt}) in the
 *   gateway config; the health report's `inForce` (values a local flag or agent.json holds over the
 *   pushed ones), `dicom.aeTitleAliases` (associations per alias), `dicom.instancesReceived` and
 *   `upload.deliveryLatencyMs`; the `config.local_override` condition; the enrollment request's
 *   `name`; `releaseSigningKey` in the enroll response and `welcome`; and the `upgrade` message. A
 *   version-6 agent would refuse every version-7 config (unknown key `aeTitleAliases`), so the
 *   channel no longer takes protocol 6.
 * 8 (2026-12-07): packs of small sealed objects: the offer request's optional `acceptPacks`, the
 *   offer result `packed` (`uploadId`, `packId`), the offer response's optional `packs` (id, signed
 *   URL, length, members with offset and length, expiry) and `PUT /blobs/packs/:packId`. Both sides
 *   keep the per-object path for a peer that does not ask for or offer packs, so the channel still
 *   takes protocol 7.
 * 9 (2026-12-07): image objects: the object header's `compression` may be `image`, whose data frames
 *   each name their codec (raw, zstd, or JPEG-LS for a band of native pixel rows) and decode to the
 *   bytes as received; the gateway config's `upload.compression` (auto | image | zstd | none); the
 *   health report's optional `compression` section. The control plane leaves `upload.compression` out
 *   of the config it pushes to a version-8 agent (`configForProtocol`), so the channel still takes
 *   protocol 7 and 8. A version-8 control plane cannot open image objects: upgrade it first.
 */
export const PROTOCOL_VERSION = 9;
