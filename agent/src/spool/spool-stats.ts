import type { CompressionStatus } from './compression-choice.js';
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

/** Counts CodingStats as instances are sealed; a snapshot is a copy. */
export class CodingTally {
  private readonly byModality = new Map<string, ModalityCodingStats>();

  record(modality: string, add: Partial<ModalityCodingStats>): void {
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

  snapshot(): CodingStats {
    return Object.fromEntries([...this.byModality].map(([m, t]) => [m, { ...t }]));
  }
}
