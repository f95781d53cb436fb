import type { CompressionStatus } from './compression-choice.js';
import type { ObjectCoding } from './compression-policy.js';
import type { IndexEntry } from './index-entry.js';

/** What the spool holds that is not shipped yet, for health reports. */
export interface SpoolStats {
  /** Spooled or uploading: still to be sent. */
  pendingCount: number;
  /** Sealed bytes of the pending entries. */
  pendingBytes: number;
  /** Studies among the pending entries; entries without a study UID (older spools) count as one. */
  pendingStudies: number;
  quarantined: number;
  /** When the oldest pending entry was received. */
  oldestUnsentAt: Date | undefined;
  /** Whether new objects are compressed, and why (the spool's own stats only). */
  compression?: CompressionStatus;
}

/** One pass over the in-memory index: no disk reads. */
export function spoolStatsOf(entries: Iterable<IndexEntry>): SpoolStats {
  let pendingCount = 0;
  let pendingBytes = 0;
  let quarantined = 0;
  let oldest: string | undefined;
  const studies = new Set<string>();
  for (const e of entries) {
    if (e.state === 'quarantined') quarantined++;
    if (e.state !== 'spooled' && e.state !== 'uploading') continue;
    pendingCount++;
    pendingBytes += e.objectBytes;
    studies.add(e.studyInstanceUid ?? '');
    if (oldest === undefined || e.receivedAt < oldest) oldest = e.receivedAt;
  }
  return {
    pendingCount,
    pendingBytes,
    pendingStudies: studies.size,
    quarantined,
    oldestUnsentAt: oldest ? new Date(oldest) : undefined,
  };
}

/** What coding did for one modality's instances: received, sealed, and how the pixel frames went. */
export interface ModalityCodingStats {
  instances: number;
  /** Bytes as received (the Part 10 files). */
  rawBytes: number;
  /** Their sealed objects' bytes: what goes on the wire. */
  sealedBytes: number;
  /** Pixel bands coded with JPEG-LS (verified). */
  jpeglsFrames: number;
  /** Pixel bands JPEG-LS could not take exactly (or did not shrink), sent zstd or raw instead. */
  fallbackFrames: number;
  /** Codec time (encode and verify), summed over workers. */
  codecMs: number;
}

/** By modality (0008,0060); '' when an instance has none. Cumulative since the agent started. */
export type CodingStats = Record<string, ModalityCodingStats>;

/** Raw bytes of a coding's recent objects before their ratio stands for the spool's traffic. */
export const RATIO_MIN_RAW_BYTES = 8 << 20;
/** Recent objects: once a coding's raw bytes pass this, both sums are halved (older ones fade). */
export const RATIO_SPAN_BYTES = 256 << 20;

/**
 * Counts CodingStats as instances are sealed, and the ratio each coding gets on this spool's recent
 * objects (what the auto policy weighs); a snapshot is a copy.
 */
export class CodingTally {
  private readonly byModality = new Map<string, ModalityCodingStats>();
  private readonly recent = new Map<'image' | 'zstd', { raw: number; sealed: number }>();

  /** `coding`: how the object was sealed; only image and zstd objects count towards ratio(). */
  record(modality: string, add: Partial<ModalityCodingStats>, coding?: ObjectCoding): void {
    if (coding === 'image' || coding === 'zstd') this.recentBytes(coding, add);
    const t = this.byModality.get(modality) ?? {
      instances: 0,
      rawBytes: 0,
      sealedBytes: 0,
      jpeglsFrames: 0,
      fallbackFrames: 0,
      codecMs: 0,
    };
    for (const k of Object.keys(add) as (keyof ModalityCodingStats)[]) t[k] += add[k] ?? 0;
    this.byModality.set(modality, t);
  }

  private recentBytes(coding: 'image' | 'zstd', add: Partial<ModalityCodingStats>): void {
    const r = this.recent.get(coding) ?? { raw: 0, sealed: 0 };
    r.raw += add.rawBytes ?? 0;
    r.sealed += add.sealedBytes ?? 0;
    if (r.raw > RATIO_SPAN_BYTES) {
      r.raw /= 2;
      r.sealed /= 2;
    }
    this.recent.set(coding, r);
  }

  /** Raw ÷ sealed bytes of recent objects sealed as `coding`; undefined until enough were. */
  ratio(coding: 'image' | 'zstd'): number | undefined {
    const r = this.recent.get(coding);
    return r && r.raw >= RATIO_MIN_RAW_BYTES && r.sealed > 0 ? r.raw / r.sealed : undefined;
  }

  snapshot(): CodingStats {
    return Object.fromEntries([...this.byModality].map(([m, t]) => [m, { ...t }]));
  }
}
