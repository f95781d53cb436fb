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
