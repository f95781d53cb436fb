import type { IndexEntry } from './index-entry.js';
import type { Settlement } from './receipts.js';

/**
 * Where an instance stands between the modality and the cloud: `pending` while a version is still
 * to ship, `delivered` once the cloud's receipt for it is recorded, `quarantined` when the cloud
 * refused it for good, `unknown` when this gateway never stored it (or forgot it, see RECEIPT_KEEP_MS).
 */
export type InstanceFate = 'pending' | Settlement | 'unknown';

/** What a storage commitment asks of the spool: the fate of an instance, and news when one settles. */
export interface InstanceFates {
  fateOf(sopInstanceUid: string): InstanceFate;
  /** Calls `listener` after a settlement is durable. Returns a function that removes it. */
  onSettled(listener: (sopInstanceUid: string) => void): () => void;
}

/**
 * The fate from the spool's versions of an instance and its recorded settlement. A version still to
 * ship wins, so the answer is about what the modality sent last; then a receipt, then a refusal.
 */
export function fateOf(versions: readonly IndexEntry[], settled: Settlement | undefined): InstanceFate {
  if (versions.some((v) => v.state === 'spooled' || v.state === 'uploading')) return 'pending';
  if (settled === 'delivered' || versions.some((v) => v.state === 'delivered')) return 'delivered';
  if (settled === 'quarantined' || versions.some((v) => v.state === 'quarantined')) return 'quarantined';
  return 'unknown';
}
