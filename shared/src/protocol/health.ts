import { z } from 'zod';

/** Coded, severity-tagged gateway conditions: health is a set of these, not a boolean. */
export const CONDITION_CODES = [
  'spool.disk_low',
  'upload.stalled',
  'upload.quarantined',
  'control.clock_skew',
  'dicom.listener_down',
  'dicom.tls_expiring',
  'dicom.open_to_any_caller',
  'config.rejected',
  'dicom.commitment_undelivered',
  /**
   * Raised by the control plane from what the agent reports in force (`inForce`, `dicom`): a local
   * setting (a `ferry-agent start` flag, a hand-edited agent.json) wins over the desired config.
   */
  'config.local_override',
  /** Raised by the control plane, never sent by an agent: the gateway's channel dropped or went silent. */
  'gateway.offline',
] as const;
export type ConditionCode = (typeof CONDITION_CODES)[number];

export const conditionSchema = z.object({
  /** One of CONDITION_CODES; newer agents may send codes this side does not know yet. */
  code: z.string().regex(/^[a-z]+\.[a-z_]+$/),
  severity: z.enum(['info', 'warning', 'error']),
  /** What a person can act on; never PHI. */
  message: z.string().max(500),
  /** ISO time the condition was first seen. */
  since: z.string(),
});
export type Condition = z.infer<typeof conditionSchema>;

const iso = z.string().max(40);

/** Settings of the gateway's own that can win over the pushed config: the `ferry-agent start` flags. */
export const LOCAL_FLAG_SETTINGS = ['port', 'aeTitle'] as const;
export type LocalFlagSetting = (typeof LOCAL_FLAG_SETTINGS)[number];

/**
 * DICOM listener settings in force on the gateway beside `dicom.aeTitle` and `dicom.port`, and which of
 * them a command-line flag set (issue 17; older agents omit it). The control plane compares them with
 * the desired config the gateway says it applied.
 */
export const inForceSchema = z.object({
  maxAssociations: z.number().int().min(0),
  allowedCallingAeTitles: z.array(z.string().max(16)).max(1000),
  flags: z.array(z.enum(LOCAL_FLAG_SETTINGS)).max(LOCAL_FLAG_SETTINGS.length),
});
export type InForceSettings = z.infer<typeof inForceSchema>;

/** Cumulative since the agent started, for one modality (0008,0060; '' when an instance has none). */
export const modalityCodingSchema = z.object({
  modality: z.string().max(16),
  instances: z.number().int().min(0),
  /** Bytes received (the Part 10 files). */
  rawBytes: z.number().min(0),
  /** Their sealed objects' bytes: what is sent. */
  sealedBytes: z.number().min(0),
  /** Pixel bands coded with JPEG-LS. */
  jpeglsFrames: z.number().int().min(0),
  /** Pixel bands JPEG-LS could not take exactly or did not shrink, sent zstd or raw instead. */
  fallbackFrames: z.number().int().min(0),
  /** Codec time (encode and verify), summed over its workers. */
  codecMs: z.number().min(0),
});
export type ModalityCoding = z.infer<typeof modalityCodingSchema>;

/**
 * How the gateway codes what it spools (issue 19; older agents omit it): the `upload.compression`
 * mode, the coding new objects get and why, the rates `auto` goes by, and what coding did per modality.
 * Mode, coding and reason are strings: a newer agent may name ones this side does not know yet.
 */
export const compressionReportSchema = z.object({
  mode: z.string().max(16),
  coding: z.string().max(16),
  reason: z.string().max(64),
  /** Sealed bytes delivered per second in the current busy period; null while idle. */
  drainBytesPerSecond: z.number().min(0).nullable(),
  /** The last rate measured before the uplink went idle; null when never measured. */
  lastDrainBytesPerSecond: z.number().min(0).nullable(),
  /**
   * The uplink as the uploads find it (bytes PUT over the time a PUT was in flight), which `auto`
   * goes by; null until measured. Agents before it omit it.
   */
  linkBytesPerSecond: z.number().min(0).nullable().optional(),
  /** Raw bytes per second one image codec worker codes and verifies; null until measured. */
  codecBytesPerSecond: z.number().min(0).nullable(),
  byModality: z.array(modalityCodingSchema).max(64),
});
export type CompressionReport = z.infer<typeof compressionReportSchema>;

/** One heartbeat's health report. Counters marked "interval" cover the time since the previous one. */
export const healthReportSchema = z.object({
  agentVersion: z.string().max(64),
  uptimeSeconds: z.number().min(0),
  /** The config version in force on the gateway (0 when it has none from the control plane). */
  configVersion: z.number().int().min(0),
  spool: z.object({
    /** Objects not yet delivered. */
    pendingCount: z.number().int().min(0),
    pendingBytes: z.number().min(0),
    /** Studies with at least one undelivered object. */
    pendingStudies: z.number().int().min(0),
    /** When the oldest undelivered object was received, or null. */
    oldestUnsentAt: iso.nullable(),
    quarantined: z.number().int().min(0),
  }),
  upload: z.object({
    /** Interval: bytes sent per second on average. */
    bytesPerSecond: z.number().min(0),
    /** Interval. */
    objectsDelivered: z.number().int().min(0),
    /** Interval. */
    errors: z.number().int().min(0),
    lastError: z.object({ code: z.string().max(64), at: iso }).nullable(),
    /** Interval: mean of receipt time minus receive time over the objects delivered (issue 17; older agents omit it). */
    deliveryLatencyMs: z.number().min(0).nullable().optional(),
  }),
  dicom: z.object({
    listening: z.boolean(),
    aeTitle: z.string().max(16),
    port: z.number().int(),
    activeAssociations: z.number().int().min(0),
    /** Interval. */
    associations: z.number().int().min(0),
    /** Interval: instances stored with C-STORE Success (issue 17; older agents omit it). */
    instancesReceived: z.number().int().min(0).optional(),
    /** The latest C-STORE per calling AE title (at most 50 callers, most recent first). */
    lastStoreByCallingAe: z.array(z.object({ aeTitle: z.string().max(16), at: iso })).max(50),
    /** DICOM TLS certificate expiry, when the listener uses TLS. */
    tlsCertExpiresAt: iso.nullable(),
    /**
     * The unexpired AE title aliases, each with the associations that called it since the agent
     * started and the latest (issue 17; older agents omit it).
     */
    aeTitleAliases: z
      .array(
        z.object({
          aeTitle: z.string().max(16),
          expiresAt: iso,
          associations: z.number().int().min(0),
          lastAt: iso.nullable(),
        }),
      )
      .max(16)
      .optional(),
  }),
  disk: z.object({ freeBytes: z.number().min(0), totalBytes: z.number().min(0) }),
  /** Agent clock minus control plane clock, from the last heartbeat round trip; null before the first. */
  clockOffsetMs: z.number().nullable(),
  /** RFC 7638 thumbprint of the recipient key new objects are sealed for (protocol 5; older agents omit it). */
  recipientKeyThumbprint: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/)
    .optional(),
  inForce: inForceSchema.optional(),
  compression: compressionReportSchema.optional(),
  conditions: z.array(conditionSchema).max(50),
});
export type HealthReport = z.infer<typeof healthReportSchema>;
