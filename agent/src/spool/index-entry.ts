import { z } from 'zod';

export const SPOOL_STATES = ['spooled', 'uploading', 'delivered', 'quarantined'] as const;
export type SpoolState = (typeof SPOOL_STATES)[number];

/**
 * How an object's data frames were coded (reporting and tests): `image` objects count their pixel
 * bands sealed as JPEG-LS, those that fell back to zstd, and the workers' codec time.
 */
export const objectCodingSchema = z.object({
  kind: z.enum(['none', 'zstd', 'image']),
  jpegLsFrames: z.number().int().nonnegative().optional(),
  fallbackFrames: z.number().int().nonnegative().optional(),
  codecMs: z.number().nonnegative().optional(),
});
export type ObjectCodingRecord = z.infer<typeof objectCodingSchema>;

/** One spooled object. UIDs, sizes, hashes and states only: nothing here names a patient. */
export const indexEntrySchema = z.object({
  id: z.string(),
  sopInstanceUid: z.string(),
  sopClassUid: z.string(),
  studyInstanceUid: z.string().optional(),
  seriesInstanceUid: z.string().optional(),
  transferSyntaxUid: z.string(),
  callingAeTitle: z.string(),
  receivedAt: z.string(),
  /** Part-10 plaintext bytes and their SHA-256 (hex); identical resends have the same hash. */
  plainBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  objectBytes: z.number().int().nonnegative(),
  /** 1 for the first object with this SOP Instance UID; a different resend gets the next number. */
  version: z.number().int().positive(),
  state: z.enum(SPOOL_STATES),
  /** Small objects live inside the log record itself; large ones in objects/<id>.fobj. */
  inline: z.boolean(),
  /** When the control plane's receipt was recorded (from the state record; never in a put record). */
  deliveredAt: z.string().optional(),
  /** The delivered object's local file is gone (retention); never in a put record. */
  purged: z.boolean().optional(),
  /** (0008,0060), for reporting by modality; absent in older logs and when the dataset has none. */
  modality: z.string().optional(),
  /** Absent in older logs. */
  coding: objectCodingSchema.optional(),
});
export type IndexEntry = z.infer<typeof indexEntrySchema>;

export const logRecordSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('put'), e: indexEntrySchema }),
  z.object({
    t: z.literal('state'),
    id: z.string(),
    state: z.enum(SPOOL_STATES),
    /** ISO time of the change; older logs lack it. */
    at: z.string().optional(),
    /**
     * Set on a `delivered` record written after the object's objects/<id>.fobj was deleted. A state
     * record rather than a new record type, so an older agent reading this log sees a harmless
     * repeat of `delivered` instead of a record it cannot parse (which would end its log there).
     */
    purged: z.literal(true).optional(),
  }),
]);
export type LogRecord = z.infer<typeof logRecordSchema>;

/** Where an object's sealed bytes are. */
export type ObjectLocation =
  | { kind: 'file'; path: string }
  | { kind: 'inline'; path: string; start: number; length: number };
