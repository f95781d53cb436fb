import { z } from 'zod';
import { trimmedAeTitleSchema } from './ae-title-schema.js';

/** The most DICOM peers one gateway lists (PACS, modalities): a hospital's handful, with room. */
export const MAX_DICOM_PEERS = 64;
export const DICOM_PEER_NAME_MAX = 64;

/**
 * Why `host` is not something a gateway may dial, or undefined: a DNS name (RFC 1123 labels) or an
 * IPv4 or IPv6 address, with no port, brackets, scheme or path.
 */
export function hostProblem(host: string): string | undefined {
  if (host.length === 0) return 'must not be empty';
  if (host.length > 253) return `must be at most 253 characters (got ${host.length})`;
  if (z.regexes.ipv4.test(host) || z.regexes.ipv6.test(host)) return undefined;
  if (/^[\d.]+$/.test(host)) return 'is not a valid IPv4 address';
  if (!z.regexes.hostname.test(host))
    return 'must be a host name (letters, digits, hyphens and dots) or an IP address, without a port';
  return undefined;
}

/**
 * A DICOM node the gateway talks back to (a PACS, a modality): what a C-ECHO diagnostic may target,
 * and later storage commitment and retrieval. The host is kept in lower case (names and IPv6 hex are
 * case-insensitive), so comparing two hosts is comparing two strings.
 */
export const dicomPeerSchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(DICOM_PEER_NAME_MAX, `must be at most ${DICOM_PEER_NAME_MAX} characters`)
      .refine((v) => ![...v].some((ch) => ch < ' ' || ch === '\x7f'), 'must not contain control characters'),
    aeTitle: trimmedAeTitleSchema,
    host: z
      .string()
      .trim()
      .toLowerCase()
      .superRefine((v, ctx) => {
        const problem = hostProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    port: z.number().int().min(1).max(65535),
    /** DICOM over TLS (the gateway verifies the peer against the system CAs). */
    tls: z.boolean().default(false),
  })
  .strict();
export type DicomPeer = z.infer<typeof dicomPeerSchema>;

/** A gateway's peers: at most MAX_DICOM_PEERS, names unique (ignoring case) so a name picks one. */
export const dicomPeersSchema = z
  .array(dicomPeerSchema)
  .max(MAX_DICOM_PEERS)
  .superRefine((peers, ctx) => {
    const seen = new Set<string>();
    peers.forEach((p, i) => {
      const key = p.name.toLowerCase();
      if (seen.has(key))
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `"${p.name}" is already the name of another peer; names must be unique`,
        });
      seen.add(key);
    });
  });

/** What an echo asks to reach: a peer's name, or its host and port (and AE title, TLS), or both. */
export interface PeerTarget {
  peer?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  calledAeTitle?: string | undefined;
  tls?: boolean | undefined;
}

/**
 * The listed peer that `target` names, or undefined. Every field the target gives must equal that
 * peer's: a name with another peer's host, or a host and port nobody lists, match nothing.
 */
export function findListedPeer(peers: readonly DicomPeer[], target: PeerTarget): DicomPeer | undefined {
  if (target.peer === undefined && (target.host === undefined || target.port === undefined)) return undefined;
  const host = target.host?.trim().toLowerCase();
  const called = target.calledAeTitle?.trim();
  return peers.find(
    (p) =>
      (target.peer === undefined || p.name === target.peer.trim()) &&
      (host === undefined || p.host === host) &&
      (target.port === undefined || p.port === target.port) &&
      (called === undefined || p.aeTitle === called) &&
      (target.tls === undefined || p.tls === target.tls),
  );
}
