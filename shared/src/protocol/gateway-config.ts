import { z } from 'zod';
import { aeTitleProblem } from '../dicom/ae-title.js';

/**
 * The desired config of one gateway as the control plane pushes it over the channel. Its fields are
 * agent.json fields, so the agent persists an applied version as its last-known-good agent.json.
 */

const aeTitle = z.string().superRefine((v, ctx) => {
  const problem = aeTitleProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `AE title ${problem}` });
});

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour clock)');

/**
 * A bandwidth window in the gateway's local time, e.g. a cap during business hours only. `to` before
 * `from` spans midnight. `days` uses 0 = Sunday … 6 = Saturday; the first matching window wins.
 */
export const bandwidthWindowSchema = z
  .object({
    days: z.array(z.number().int().min(0).max(6)).min(1).max(7),
    from: clock,
    to: clock,
    bandwidthBytesPerSecond: z.number().int().min(0),
  })
  .strict();
export type BandwidthWindow = z.infer<typeof bandwidthWindowSchema>;

export const gatewayUploadConfigSchema = z
  .object({
    parallelism: z.number().int().min(1).max(64),
    /** 0 = unlimited; applies outside every schedule window. */
    bandwidthBytesPerSecond: z.number().int().min(0),
    schedule: z.array(bandwidthWindowSchema).max(32),
    /** Hours a delivered object's local copy is kept; 0 = delete on receipt. */
    retentionHours: z
      .number()
      .min(0)
      .max(24 * 366),
  })
  .strict();

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
    aeTitle: aeTitle.transform((v) => v.trim()),
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

export const gatewayConfigV2Schema = z
  .object({
    aeTitle: aeTitle.transform((v) => v.trim()),
    port: z.number().int().min(1).max(65535),
    allowedCallingAeTitles: z.array(aeTitle.transform((v) => v.trim())).max(1000),
    maxAssociations: z.number().int().min(1).max(10_000),
    upload: gatewayUploadConfigSchema,
    /**
     * The only DICOM nodes the gateway dials on the control plane's behalf (the C-ECHO diagnostic).
     * A version from before peers existed has none: nothing may be dialled.
     */
    peers: dicomPeersSchema.default([]),
    /** Used by the control plane (study completion); the agent reports it and keeps it. */
    stablePeriodSeconds: z.number().int().min(1).max(86_400),
  })
  .strict();
/** A complete, valid desired gateway config. */
export type GatewayDesiredConfig = z.infer<typeof gatewayConfigV2Schema>;

/** Defaults every group starts from (the agent's own agent.json defaults). */
export const GATEWAY_CONFIG_DEFAULTS: Omit<GatewayDesiredConfig, 'aeTitle'> = {
  port: 4104,
  allowedCallingAeTitles: [],
  maxAssociations: 32,
  upload: { parallelism: 4, bandwidthBytesPerSecond: 0, schedule: [], retentionHours: 0 },
  peers: [],
  stablePeriodSeconds: 60,
};

/**
 * What a group (defaults for all its gateways) or a facility (overrides for its gateways) may set.
 * Every field is optional; a facility's value wins over the group's, which wins over the defaults.
 */
export const gatewaySettingsSchema = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    allowedCallingAeTitles: z
      .array(aeTitle.transform((v) => v.trim()))
      .max(1000)
      .optional(),
    maxAssociations: z.number().int().min(1).max(10_000).optional(),
    upload: gatewayUploadConfigSchema.partial().strict().optional(),
    /** Replaces the whole list: a facility's peers are not added to its group's. */
    peers: dicomPeersSchema.optional(),
  })
  .strict();
export type GatewaySettings = z.infer<typeof gatewaySettingsSchema>;

/** Defaults < group settings < facility settings, plus the facility's AE title and stable period. */
export function mergeGatewayConfig(
  facility: { aeTitle: string; stablePeriodSeconds: number },
  group: GatewaySettings,
  own: GatewaySettings,
): GatewayDesiredConfig {
  const d = GATEWAY_CONFIG_DEFAULTS;
  return {
    aeTitle: facility.aeTitle,
    port: own.port ?? group.port ?? d.port,
    allowedCallingAeTitles:
      own.allowedCallingAeTitles ?? group.allowedCallingAeTitles ?? d.allowedCallingAeTitles,
    maxAssociations: own.maxAssociations ?? group.maxAssociations ?? d.maxAssociations,
    upload: { ...d.upload, ...group.upload, ...own.upload },
    peers: own.peers ?? group.peers ?? d.peers,
    stablePeriodSeconds: facility.stablePeriodSeconds,
  };
}
